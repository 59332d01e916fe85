"""A prompt with variables, in Debian's chromium: saved to the library (a malformed one refused,
saying where), used, filled in with a live preview, and made into a job with the values in place.

With STUDIO_SCREENSHOTS=<folder> set, Generate with the variables is saved at desktop width and
at 375 px.
"""

from __future__ import annotations

import re

import pytest

from jobs.models import Job
from studio.models import Prompt
from tests.browser_helpers import PHONE, at, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]

TEMPLATE = "{{mood|select:calm,dark,upbeat}} lo-fi beat at {{bpm|number:60-180=90}} bpm, {{place}}"


def sign_in(page) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill("member")
    page.get_by_label("Password").fill("member-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(at("/"))


def variable(page, name: str):
    """A variable's field, by its label (the name, and a * when it is required)."""
    return page.get_by_label(re.compile(rf"^{name}( \*)?$"))


def preview_text(page) -> str:
    return page.locator("#variables-preview .preview-text").first.text_content()


def test_save_use_fill_preview_and_generate(page, member, wallet):
    sign_in(page)
    page.goto("/library/new/")
    page.get_by_label("Title").fill("Mood beat")
    page.get_by_label("Prompt").fill("soft {{mood")
    page.get_by_label("Model").select_option("elevenlabs-music")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#id_text_error")
    error.wait_for()
    assert "line 1, column 6: unclosed {{" in error.text_content()
    assert not Prompt.objects.exists()

    page.get_by_label("Prompt").fill(TEMPLATE)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(at("/library/"))
    page.locator(".prompt", has_text="Mood beat").get_by_role("link", name="Use").click()
    page.wait_for_url(re.compile(r"/library/\d+/use/$"))

    # One field per variable, the default in place, and the preview with gaps to fill.
    assert page.get_by_label("Prompt").input_value() == TEMPLATE
    assert variable(page, "bpm").input_value() == "90"
    assert preview_text(page) == "mood? lo-fi beat at 90 bpm, place?"

    variable(page, "mood").select_option("dark")
    variable(page, "place").fill("in the rain")
    variable(page, "bpm").fill("300")
    page.get_by_text("bpm: Type a number from 60 to 180.").wait_for()
    variable(page, "bpm").fill("120")
    page.wait_for_function(
        "t => document.querySelector('#variables-preview .preview-text').textContent === t",
        arg="dark lo-fi beat at 120 bpm, in the rain",
    )
    assert page.locator("#variables-preview .refused").count() == 0
    shot(page, "generate-variables")

    # Editing the prompt brings a new variable's field, keeping what was typed.
    page.get_by_label("Prompt").fill(TEMPLATE + " with {{instrument=piano}}")
    variable(page, "instrument").wait_for()
    page.wait_for_function(
        "() => document.querySelector('#variables-preview').textContent.includes('piano')"
    )
    assert variable(page, "mood").input_value() == "dark"
    assert variable(page, "place").input_value() == "in the rain"

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "generate-variables-375")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get()
    assert job.prompt == "dark lo-fi beat at 120 bpm, in the rain with piano"
    assert Prompt.objects.get().times_used == 1


def test_values_that_do_not_fit_are_refused_on_their_fields(page, member, wallet):
    prompt = Prompt(title="Mood beat", text=TEMPLATE, model_id="elevenlabs-music", author=member)
    prompt.save()
    sign_in(page)
    page.goto(f"/library/{prompt.pk}/use/")
    variable(page, "mood").select_option("calm")
    variable(page, "place").fill("  ")
    # The browser would stop an empty required field itself: ask the server, as a script-less
    # or hand-made request would.
    page.locator("#generate-form").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("alert").wait_for()
    shot(page, "generate-variables-refused")
    assert "Fill this in." in page.locator("#id_var_place_error").text_content()
    assert not Job.objects.exists()
