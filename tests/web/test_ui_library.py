"""The shared prompt library: search, tags, private prompts, who may edit, save and reuse."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import Prompt

from .ui_helpers import make_job, make_prompt, make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogue(venice):
    """The library names models from Venice's catalogue (the sandbox here)."""


def listing(client, **params) -> str:
    response = client.get(reverse("library:list"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_shared_prompts_with_author_tags_and_results(client, member, other):
    make_prompt(other, title="Rainy cafe", tags=["lofi", "chill"], times_used=3)
    client.force_login(member)
    page = listing(client)
    # Its runs and when it was last used (studio.results; tests/web/test_ui_prompt_results.py).
    assert "Rainy cafe" in page and "by other" in page and '<dd class="runs">0</dd>' in page
    assert "never used" in page
    assert "#lofi" in page and "#chill" in page


def test_search_and_tag_filter(client, member):
    make_prompt(member, title="Rainy cafe", text="soft rain and piano", tags=["lofi"])
    make_prompt(member, title="Boss fight", text="epic drums", tags=["game", "epic"])
    client.force_login(member)
    assert "Boss fight" not in listing(client, q="rain")
    assert "Rainy cafe" in listing(client, q="RAIN")
    by_tag = listing(client, tag="epic")
    assert "Boss fight" in by_tag and "Rainy cafe" not in by_tag
    assert "Boss fight" not in listing(client, tag="epi")  # tags match whole


def test_private_prompts_are_hidden_and_404_for_other_members(client, member, other):
    secret = make_prompt(other, title="Secret sauce", private=True)
    client.force_login(member)
    assert "Secret sauce" not in listing(client)
    assert client.get(reverse("library:edit", args=[secret.pk])).status_code == 404
    assert client.get(reverse("library:use", args=[secret.pk])).status_code == 404


def test_members_edit_their_own_prompts_only(client, member, other):
    mine = make_prompt(member, title="Mine")
    theirs = make_prompt(other, title="Theirs")
    client.force_login(member)
    page = listing(client)
    assert f'href="/library/{mine.pk}/"' in page and f'href="/library/{theirs.pk}/"' not in page
    assert client.get(reverse("library:edit", args=[theirs.pk])).status_code == 404
    response = client.post(
        reverse("library:edit", args=[theirs.pk]), {"title": "Hijacked", "text": "x"}
    )
    assert response.status_code == 404
    assert client.post(reverse("library:delete", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Theirs"

    response = client.post(
        reverse("library:edit", args=[mine.pk]),
        {
            "title": "Mine, renamed",
            "text": "new text",
            "lyrics": "",
            "model_id": "",
            "tags_text": "Intro, INTRO  calm",
            "private": "on",
        },
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.title, mine.tag_list, mine.private) == ("Mine, renamed", ["intro", "calm"], True)


def test_admins_edit_everyones_prompts(client, admin_user, member):
    prompt = make_prompt(member, title="Member's", private=True)
    client.force_login(admin_user)
    assert client.get(reverse("library:edit", args=[prompt.pk])).status_code == 200
    client.post(reverse("library:delete", args=[prompt.pk]))
    assert not Prompt.objects.exists()


def test_new_prompt(client, member):
    client.force_login(member)
    response = client.post(
        reverse("library:new"),
        {
            "title": "Door creak",
            "text": "an old wooden door creaking open",
            "lyrics": "",
            "model_id": "",
            "tags_text": "sfx",
        },
    )
    assert response.status_code == 302
    prompt = Prompt.objects.get()
    assert prompt.author == member and prompt.tag_list == ["sfx"]


def test_save_a_finished_job_in_one_click_then_use_it(client, member, settings):
    job = make_job(
        member,
        make_wallet(),
        model_id="elevenlabs-tts-v4",
        prompt="Welcome, team",
        duration_seconds=None,
        voice="Bella",
        language_code="en",
        private=True,
    )
    client.force_login(member)
    response = client.post(reverse("library:save_job", args=[job.pk]))
    prompt = Prompt.objects.get()
    assert response.status_code == 302 and response["Location"] == prompt.get_absolute_url()
    assert (prompt.text, prompt.model_id, prompt.private) == (
        "Welcome, team",
        "elevenlabs-tts-v4",
        True,
    )
    assert prompt.settings == {"voice": "Bella", "language_code": "en"}
    assert prompt.source_job == job and prompt.author == member

    page = client.get(reverse("library:use", args=[prompt.pk])).content.decode()
    assert "Welcome, team</textarea>" in page
    assert 'href="/" aria-current="page">Generate' in page  # the member is on Generate
    assert f'name="library_prompt" value="{prompt.pk}"' in page


def test_saving_anothers_private_job_is_404(client, member, other):
    job = make_job(other, make_wallet(), private=True)
    client.force_login(member)
    assert client.post(reverse("library:save_job", args=[job.pk])).status_code == 404
    assert not Prompt.objects.exists()


def test_library_posts_are_csrf_protected(member):
    prompt = make_prompt(member)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    assert strict.post(reverse("library:delete", args=[prompt.pk])).status_code == 403
    assert strict.post(reverse("library:new"), {"title": "t", "text": "x"}).status_code == 403


def test_prompt_text_is_escaped(client, member):
    make_prompt(member, title="<script>x()</script>", text="<b>bold</b>", tags=["<i>"])
    client.force_login(member)
    page = listing(client)
    assert "<script>x()</script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page
