"""A library prompt's variables: refused when malformed, one field each on Generate, a live
preview, and values that do not fit refused field by field with no job and no paid call."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job
from studio.models import Prompt

from .ui_helpers import make_prompt

pytestmark = pytest.mark.django_db

TEMPLATE = "{{mood|select:calm,dark,upbeat}} lo-fi at {{bpm|number:60-180=90}} bpm, {{place}}"


def prompt_form(**fields) -> dict:
    return {"title": "Mood beat", "text": TEMPLATE, "lyrics": "", "model_id": "", **fields}


def paid_calls(sandbox, wallet) -> int:
    return sandbox.stats(wallet.address)["calls"].get("queue", 0)


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("text", "soft piano {{mood", "line 1, column 12: unclosed {{"),
        ("lyrics", "la la\nla {{who|colour}}", "line 2, column 4: unknown type “colour”"),
        ("text", "a literal }} here", "line 1, column 11: }} without an opening {{"),
    ],
)
def test_a_malformed_template_is_refused_saying_where(signed_in, member, field, text, message):
    response = signed_in.post(reverse("library:new"), prompt_form(**{field: text}))
    assert response.status_code == 200 and not Prompt.objects.exists()
    assert message in response.context["form"].errors[field][0]
    assert message in response.content.decode()

    prompt = make_prompt(member, text="calm piano")
    response = signed_in.post(
        reverse("library:edit", args=[prompt.pk]), prompt_form(**{field: text})
    )
    assert message in response.context["form"].errors[field][0]
    prompt.refresh_from_db()
    assert prompt.text == "calm piano"


def test_one_name_defined_two_ways_across_prompt_and_lyrics_is_refused(signed_in):
    response = signed_in.post(
        reverse("library:new"),
        prompt_form(text="{{bpm|number:60-180}} beat", lyrics="count {{bpm=4}}"),
    )
    assert response.context["form"].errors["lyrics"] == [
        "line 1, column 7: bpm is already defined differently (prompt, line 1, column 1)"
    ]


def test_a_template_with_variables_is_saved(signed_in):
    response = signed_in.post(reverse("library:new"), prompt_form(lyrics="I feel {{mood}}"))
    assert response.status_code == 302
    assert Prompt.objects.get().text == TEMPLATE


def test_use_shows_one_field_per_variable_and_the_preview(signed_in, member):
    prompt = make_prompt(member, text=TEMPLATE, settings={"duration_seconds": 30})
    prompt.lyrics = "walking {{place}}, feeling {{mood}}"
    prompt.save()
    page = signed_in.get(reverse("library:use", args=[prompt.pk])).content.decode()
    # mood and place are written twice: one field each.
    assert page.count('name="var_mood"') == 1 and page.count('name="var_place"') == 1
    assert '<option value="upbeat">upbeat</option>' in page
    assert 'name="var_bpm" value="90"' in page and 'min="60"' in page and 'max="180"' in page
    assert "A number from 60 to 180." in page
    # The preview: the default in place, a gap for each value still missing.
    assert '<mark class="missing">mood?</mark> lo-fi at <mark>90</mark> bpm' in page


def test_the_preview_follows_the_values_and_names_each_that_does_not_fit(signed_in):
    query = {
        "prompt": TEMPLATE,
        "var_mood": "dark",
        "var_bpm": "300",
        "var_place": "<b>home</b>",
    }
    headers = {"HX-Request": "true", "HX-Target": "variables-preview"}
    page = signed_in.post(reverse("jobs:variables"), query, headers=headers).content.decode()
    assert page.strip().startswith('<div id="variables-preview"')  # the preview only
    assert "<mark>dark</mark> lo-fi at <mark" in page
    assert "bpm: Type a number from 60 to 180." in page
    assert "&lt;b&gt;home&lt;/b&gt;" in page and "<b>home" not in page

    # A change to the prompt brings the fields again: here one more variable, one fewer.
    headers["HX-Target"] = "variables"
    query["prompt"] = "{{mood}} and {{tempo|number}}"
    page = signed_in.post(reverse("jobs:variables"), query, headers=headers).content.decode()
    assert 'name="var_tempo"' in page and 'name="var_bpm"' not in page
    assert 'name="var_mood" value="dark"' in page  # what was typed stays

    query["prompt"] = "soft {{mood"
    page = signed_in.post(reverse("jobs:variables"), query, headers=headers).content.decode()
    assert "The prompt: line 1, column 6: unclosed {{" in page


def test_values_that_do_not_fit_are_refused_per_field_with_no_job_and_no_paid_call(
    signed_in, venice, wallet
):
    response = signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-music",
            "prompt": TEMPLATE,
            "duration_seconds": "30",
            "var_mood": "loud",
            "var_bpm": "200",
            "var_place": "  ",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["var_mood"] == ["Choose one of calm, dark, upbeat."]
    assert errors["var_bpm"] == ["Type a number from 60 to 180."]
    assert errors["var_place"] == ["Fill this in."]
    page = response.content.decode()
    assert "Nothing was created" in page and 'id="id_var_bpm_error"' in page
    assert not Job.objects.exists() and paid_calls(venice, wallet) == 0


def test_the_job_gets_the_text_filled_in_with_no_braces_left(signed_in, member):
    prompt = make_prompt(member, text=TEMPLATE)
    response = signed_in.post(
        reverse("jobs:generate"),
        {
            "model": "elevenlabs-music",
            "prompt": TEMPLATE,
            "duration_seconds": "30",
            "var_mood": "dark",
            "var_bpm": "",  # empty takes the default
            "var_place": "at home",
            "library_prompt": prompt.pk,
        },
    )
    job = Job.objects.get()
    assert response.status_code == 302
    assert job.prompt == "dark lo-fi at 90 bpm, at home"
    assert job.queue_body["prompt"] == job.prompt
    prompt.refresh_from_db()
    assert prompt.times_used == 1


def test_a_model_switch_keeps_the_values_typed(signed_in):
    page = signed_in.post(
        reverse("jobs:switch_model"),
        {"model": "ace-step-15", "prompt": TEMPLATE, "var_mood": "calm", "var_bpm": "120"},
        headers={"HX-Request": "true", "HX-Target": "generate-form"},
    ).content.decode()
    assert '<option value="calm" selected>calm</option>' in page
    assert 'name="var_bpm" value="120"' in page
    assert "<mark>calm</mark> lo-fi at <mark>120</mark>" in page


def test_a_character_priced_model_is_quoted_on_the_filled_text(signed_in):
    # 1000 characters once filled in, over 1,100 as written.
    template = "x" * 995 + "{{who|select:Ann,Bobby=Bobby}}"
    url = reverse("jobs:quote")
    quote = signed_in.post(url, {"model": "elevenlabs-tts-v4", "prompt": template})
    assert "$0.18" in quote.content.decode()
    quote = signed_in.post(
        url, {"model": "elevenlabs-tts-v4", "prompt": template, "var_who": "Ann"}
    )
    assert "$0.17964" in quote.content.decode()  # 998 characters
    page = signed_in.get(
        reverse("jobs:generate"), {"model": "elevenlabs-tts-v4", "prompt": template}
    )
    assert 'id="price">$0.18<' in page.content.decode()


def test_generate_without_variables_shows_no_fieldset(signed_in):
    page = signed_in.get(reverse("jobs:generate")).content.decode()
    assert '<fieldset id="variables" class="variables" hidden' in page
