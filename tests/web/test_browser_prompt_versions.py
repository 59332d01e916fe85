"""A library prompt's versions in Debian's chromium: edited twice, its history opened, two
versions compared, an old one restored, one approved, and *Use* and *Run again* taking it.

With STUDIO_SCREENSHOTS=<folder> set, the history with its diff is saved at desktop width and at
375 px, and the library list with the approved badge.
"""

from __future__ import annotations

import re

import pytest

from jobs.models import Job
from studio.models import LibrarySettings, Prompt, PromptRun
from tests.browser_helpers import DESKTOP, PHONE, at, shot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]


def prompt_field(page):
    return page.get_by_label(re.compile(r"^Prompt( \*)?$"))


def card(page, title: str):
    return page.locator(".prompt", has_text=title)


def save_edit(page, title: str, text: str, note: str = "") -> None:
    page.goto("/library/")
    card(page, title).get_by_role("link", name="Edit").click()
    prompt_field(page).fill(text)
    page.get_by_label("What changed (optional)").fill(note)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(at("/library/"))


def test_edit_compare_restore_approve_use_and_run_again(page, member, wallet):
    # The admin lets owners move the label, so the member approves their own prompt here.
    LibrarySettings.objects.update_or_create(pk=1, defaults={"owners_may_approve": True})
    sign_in(page, "member", "member-pass-123")
    page.goto("/library/new/")
    page.get_by_label("Title").fill("Night rain")
    prompt_field(page).fill("soft rain on a tin roof")
    page.get_by_label("Model").select_option("elevenlabs-music")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(at("/library/"))

    save_edit(page, "Night rain", "heavy rain on a tin roof", note="heavier")
    page.get_by_text("Version 2.").wait_for()
    save_edit(page, "Night rain", "heavy rain on a tin roof\nthunder <far> away")
    prompt = Prompt.objects.get()
    assert prompt.versions.count() == 3

    # The history, opened on the last edit: one line added.
    card(page, "Night rain").get_by_role("link", name="History").click()
    page.wait_for_url(at(f"/library/{prompt.pk}/history/"))
    diff = page.locator(".diff")
    assert "Version 2 → version 3" in diff.locator("h2").text_content()
    assert diff.locator("li.added ins").all_text_contents() == ["thunder <far> away"]

    # Any two versions: 1 against 3.
    page.get_by_label("From version").select_option("1")
    page.get_by_label("To version").select_option("3")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"\?a=1&b=3$"))
    assert diff.locator("del").all_text_contents() == ["soft"]
    assert diff.locator("ins").all_text_contents() == ["heavy", "thunder <far> away"]
    assert page.locator("#version-2 .note").text_content() == "heavier"
    shot(page, "library-history")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "library-history-375")
    page.set_viewport_size(DESKTOP)

    # Restore version 1: a new version 4, the old ones kept.
    page.get_by_role("button", name="Restore version 1").click()
    page.get_by_text("Version 1 is restored as version 4.").wait_for()
    prompt.refresh_from_db()
    assert prompt.text == "soft rain on a tin roof" and prompt.versions.count() == 4
    assert page.locator("#version-4 .note").text_content() == "Restored from version 1"

    # Approve version 2: Use takes it, though version 4 is the latest.
    page.get_by_role("button", name="Approve version 2").click()
    page.get_by_text("Version 2 is approved").wait_for()
    assert page.locator("#version-2 .tag.approved").is_visible()
    page.goto("/library/")
    assert "v2 approved" in card(page, "Night rain").text_content()
    shot(page, "library-approved")
    page.set_viewport_size(PHONE)
    shot(page, "library-approved-375")
    page.set_viewport_size(DESKTOP)
    card(page, "Night rain").get_by_role("link", name="Use").click()
    page.wait_for_url(at(f"/library/{prompt.pk}/use/"))
    assert prompt_field(page).input_value() == "heavy rain on a tin roof"

    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get()
    assert job.prompt == "heavy rain on a tin roof"
    assert PromptRun.objects.get(job=job).version.number == 2

    # The label moves on to version 4; Run again still runs the version the job came from.
    page.goto(f"/library/{prompt.pk}/history/")
    page.get_by_role("button", name="Approve version 4").click()
    page.get_by_text("Version 4 is approved").wait_for()
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("link", name="Run again").click()
    page.wait_for_url(at(f"/library/again/{job.pk}/"))
    assert prompt_field(page).input_value() == "heavy rain on a tin roof"
