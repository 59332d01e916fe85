"""The generate page: a form shaped by the model, a live price, and refusals that create nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import Job
from studio.models import PromptRun
from wallets import budgets
from wallets.models import Budget

from .ui_helpers import make_job, make_prompt

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true", "HX-Target": "generate-form"}


def form_for(client, model: str, **params) -> str:
    response = client.post(reverse("jobs:switch_model"), {"model": model, **params}, headers=HX)
    assert response.status_code == 200
    return response.content.decode()


def generate(client, **fields: str) -> str:
    """The page that answers the generate form posted with these fields."""
    return client.post(reverse("jobs:generate"), fields).content.decode()


def test_page_lists_usable_models_only(signed_in):
    page = signed_in.get(reverse("jobs:generate")).content.decode()
    assert 'value="elevenlabs-music"' in page and 'value="ace-step-15"' in page
    assert "stable-audio-25" not in page  # offline
    assert "elevenlabs-voice-changer" not in page  # another endpoint
    assert "<html" in page  # a full page, not the fragment


def test_switching_model_re_renders_only_the_form_with_that_models_fields(signed_in):
    music = form_for(signed_in, "elevenlabs-music")
    assert "<html" not in music and 'id="generate-form"' in music
    assert 'name="force_instrumental"' in music
    assert 'type="number" name="duration_seconds"' in music
    assert 'min="10"' in music and 'max="300"' in music
    assert 'name="lyrics_prompt"' not in music and 'name="voice"' not in music
    assert 'maxlength="2000"' in music

    ace = form_for(signed_in, "ace-step-15")
    lyrics = ace.split('name="lyrics_prompt"')[1][:200]
    assert "required" not in lyrics, "ACE-Step 1.5 takes lyrics but does not need them"
    minimax = form_for(signed_in, "minimax-music-v2")  # needs lyrics, though its spec is silent
    assert "required" in minimax.split('name="lyrics_prompt"')[1][:200]
    assert '<select name="duration_seconds"' in ace
    for seconds in (30, 60, 120, 240):
        assert f'<option value="{seconds}"' in ace
    assert 'name="force_instrumental"' not in ace

    minimax = form_for(signed_in, "minimax-music-v25")
    assert 'name="lyrics_optimizer"' in minimax and 'name="force_instrumental"' in minimax
    assert 'name="duration_seconds"' not in minimax
    assert 'maxlength="3500"' in minimax  # the lyrics limit

    tts = form_for(signed_in, "elevenlabs-tts-v4")
    assert '<select name="voice"' in tts and '<option value="Rachel" selected>' in tts
    assert 'name="custom_voice"' in tts
    assert 'name="speed"' in tts and 'min="0.7"' in tts and 'max="1.2"' in tts
    assert 'name="language_code"' in tts
    assert 'name="duration_seconds"' not in tts

    sfx = form_for(signed_in, "elevenlabs-sound-effects-v2")
    assert 'name="loop"' in sfx and 'max="22"' in sfx and 'maxlength="450"' in sfx


def test_model_switch_keeps_the_text_and_updates_the_address(signed_in):
    response = signed_in.post(
        reverse("jobs:switch_model"),
        {"model": "ace-step-15", "prompt": "a sea shanty <b>x</b>"},
        headers=HX,
    )
    page = response.content.decode()
    assert "a sea shanty &lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert response["HX-Replace-Url"] == "/?model=ace-step-15"


def test_every_control_has_a_label(signed_in):
    import re

    for model in (
        "elevenlabs-music",
        "minimax-music-v25",
        "elevenlabs-tts-v4",
        "ace-step-15",
        "elevenlabs-sound-effects-v2",
    ):
        page = form_for(signed_in, model)
        ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', page)
        visible = [
            i
            for i in ids
            if f'id="{i}"' in page
            and "hidden" not in re.search(rf'<[^>]*id="{i}"[^>]*>', page).group(0)
        ]
        for control in visible:
            assert f'<label for="{control}"' in page, (model, control)


def test_quote_follows_duration_and_shows_the_budget(signed_in):
    url = reverse("jobs:quote")
    short = signed_in.post(url, {"model": "elevenlabs-music", "duration_seconds": "30"})
    assert "$0.50" in short.content.decode()
    long = signed_in.post(url, {"model": "elevenlabs-music", "duration_seconds": "200"})
    page = long.content.decode()
    assert "$2.00" in page and "3:20" in page
    assert "$25.00</strong> of $25.00 left" in page


def test_quote_of_a_character_priced_model_follows_the_text(signed_in):
    url = reverse("jobs:quote")
    small = signed_in.post(url, {"model": "elevenlabs-tts-v4", "prompt": "x" * 1000})
    large = signed_in.post(url, {"model": "elevenlabs-tts-v4", "prompt": "x" * 5000})
    assert "$0.18" in small.content.decode() and "$0.90" in large.content.decode()


def test_quote_warns_when_the_budget_cannot_pay(signed_in, member):
    month = budgets.month_of(__import__("django.utils.timezone").utils.timezone.now())
    budget = budgets.member_budget(member.pk, month)
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("1.00"))
    page = signed_in.post(
        reverse("jobs:quote"), {"model": "elevenlabs-music", "duration_seconds": "200"}
    ).content.decode()
    assert "Studio will refuse it" in page and "$1.00</strong> of $1.00 left" in page


def test_submitting_creates_the_job_and_opens_it(signed_in, member):
    response = signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-music",
            "prompt": "a calm piano piece at dusk",
            "duration_seconds": "45",
            "force_instrumental": "on",
            "private": "on",
        },
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.user == member and job.private and job.duration_seconds == 45
    assert job.force_instrumental is True and job.quoted_usd == Decimal("0.5")


def test_tts_job_takes_voice_speed_and_language(signed_in):
    signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-tts-v4",
            "prompt": "Hello there, team.",
            "voice": "Adam",
            "speed": "1.1",
            "language_code": "EN",
        },
    )
    job = Job.objects.get()
    assert (job.voice, job.speed, job.language_code) == ("Adam", Decimal("1.1"), "en")


def test_a_custom_voice_id_overrides_the_list(signed_in):
    signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-tts-v4",
            "prompt": "Hello there.",
            "voice": "Rachel",
            "custom_voice": "pNInz6obpgDQGcFmaJgB",
        },
    )
    assert Job.objects.get().voice == "pNInz6obpgDQGcFmaJgB"


def test_a_model_refusal_is_shown_on_the_field_and_creates_nothing(signed_in):
    response = signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "minimax-music-v25",
            "prompt": "a sea shanty for the crew",
            "lyrics_prompt": "Yo ho, yo ho",
            "lyrics_optimizer": "on",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Nothing was created" in page
    assert "clear the lyrics or turn it off" in page
    assert 'id="id_lyrics_optimizer"' in page.split("clear the lyrics")[0]  # under that field
    assert "Yo ho, yo ho" in page  # what was typed is kept
    assert not Job.objects.exists()


def test_missing_required_lyrics_is_refused(signed_in):
    response = signed_in.post(
        reverse("jobs:generate"),
        {"model": "minimax-music-v2", "prompt": "an upbeat pop song"},
    )
    assert "This field is required" in response.content.decode()
    assert not Job.objects.exists()


def test_duration_outside_the_models_range_is_refused(signed_in):
    response = signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-sound-effects-v2",
            "prompt": "door creak",
            "duration_seconds": "60",
        },
    )
    assert "less than or equal to 22" in response.content.decode()
    assert not Job.objects.exists()


def test_over_budget_job_is_refused_with_the_reason(signed_in, member):
    from django.utils import timezone

    budget = budgets.member_budget(member.pk, budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("1.00"))
    page = generate(
        signed_in,
        model="elevenlabs-music",
        prompt="a long orchestral build",
        duration_seconds="240",
    )
    assert "Nothing was created" in page and "more than what is left of your budget" in page
    assert not Job.objects.exists()
    budget.refresh_from_db()
    assert budget.reserved_usd == 0


def test_what_members_type_is_escaped(signed_in):
    page = generate(
        signed_in,
        model="elevenlabs-music",
        prompt="<script>alert(1)</script>",
        duration_seconds="5",
    )
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_submitting_is_csrf_protected(member, wallet):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    response = strict.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-music",
            "prompt": "a calm piano piece at dusk",
        },
    )
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_run_again_prefills_from_a_visible_job(signed_in, member, wallet):
    job = make_job(
        member,
        wallet,
        model_id="elevenlabs-tts-v4",
        prompt="Read me aloud",
        duration_seconds=None,
        voice="Bella",
        speed=Decimal("0.9"),
    )
    page = signed_in.get(reverse("jobs:generate"), {"job": job.pk}).content.decode()
    assert '<option value="elevenlabs-tts-v4" selected>' in page
    assert "Read me aloud</textarea>" in page
    assert '<option value="Bella" selected>' in page and 'value="0.90"' in page


def test_try_the_suggested_prompt(signed_in, member, wallet):
    job = make_job(
        member,
        wallet,
        state=Job.State.FAILED,
        prompt="something refused",
        suggested_prompt="something gentler",
    )
    page = signed_in.get(reverse("jobs:generate"), {"job": job.pk, "suggested": "1"})
    assert "something gentler</textarea>" in page.content.decode()


def test_cannot_run_again_another_members_private_job(signed_in, wallet, django_user_model):
    other = django_user_model.objects.create_user("other", password="x")
    job = make_job(other, wallet, private=True)
    assert signed_in.get(reverse("jobs:generate"), {"job": job.pk}).status_code == 404


def test_a_library_prompt_prefills_and_counts_its_use_once_a_job_is_made(signed_in, member):
    prompt = make_prompt(
        member,
        model_id="elevenlabs-sound-effects-v2",
        text="thunder far away",
        settings={"duration_seconds": 7, "loop": True},
    )
    page = signed_in.get(reverse("library:use", args=[prompt.pk])).content.decode()
    assert "thunder far away</textarea>" in page and 'value="7"' in page
    assert f'name="library_prompt" value="{prompt.pk}"' in page
    assert 'name="loop" id="id_loop" checked' in page
    prompt.refresh_from_db()
    assert prompt.times_used == 0
    signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-sound-effects-v2",
            "prompt": "thunder far away",
            "duration_seconds": "7",
            "loop": "on",
            "library_prompt": prompt.pk,
        },
    )
    prompt.refresh_from_db()
    assert prompt.times_used == 1 and Job.objects.get().loop is True

    # Three takes in one request: one more use, and each take remembers the prompt.
    signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-sound-effects-v2",
            "prompt": "thunder far away",
            "duration_seconds": "7",
            "takes": "3",
            "library_prompt": prompt.pk,
        },
    )
    prompt.refresh_from_db()
    assert prompt.times_used == 2
    assert PromptRun.objects.filter(prompt=prompt).count() == 4


def test_catalogue_outage_says_so(client, member, settings):
    from django.core.cache import cache

    cache.clear()
    settings.VENICE_API_BASE = "http://127.0.0.1:9/api/v1"
    settings.VENICE_TIMEOUT_S = 0.5
    client.force_login(member)
    response = client.get(reverse("jobs:generate"))
    assert response.status_code == 503
    assert "model list is unavailable" in response.content.decode()
