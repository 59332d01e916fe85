"""Quick insert and the library's export and import, in Debian's chromium: `/` and a word typed
in Generate's prompt lists library prompts, the arrow keys and Enter pick one and Generate is
filled with it; the library exported, wiped, imported with a preview and confirmed.

With STUDIO_SCREENSHOTS=<folder> set, the quick-insert list and the import preview are saved at
desktop width and at 375 px.
"""

from __future__ import annotations

import json
import re

import pytest

from jobs.models import Job
from studio import versioning
from studio.models import Prompt, PromptRun, PromptVersion
from tests.browser_helpers import DESKTOP, PHONE, at, shot, sign_in

from .ui_helpers import make_prompt

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]


def prompt_field(page):
    return page.get_by_label(re.compile(r"^Prompt( \*)?$"))


def test_slash_and_a_word_inserts_a_library_prompt_with_its_settings(
    page, member, admin_user, wallet
):
    rain = make_prompt(
        member,
        title="Rainy cafe",
        text="{{mood|select:calm,dark=calm}} rain and piano",
        settings={"duration_seconds": 30},
        tags=["lofi", "chill"],
        times_used=4,
    )
    versioning.set_approved(rain, rain.versions.get(), admin_user)
    rain.text = "an unapproved draft"
    versioning.save_prompt(rain, member)
    make_prompt(member, title="Rain on a <b>roof</b>", text="drops", tags=["ambient"])
    make_prompt(member, title="Boss fight", text="epic drums")

    sign_in(page, "member", "member-pass-123")
    page.goto("/")
    prompt_field(page).click()
    page.keyboard.type("/rain")
    results = page.locator("#quick-insert a.quick-item")
    results.first.wait_for()
    assert results.count() == 2
    titles = page.locator("#quick-insert .quick-title").all_text_contents()
    assert titles == ["Rainy cafe", "Rain on a <b>roof</b>"]  # the most used first, escaped
    first = results.first.text_content()
    assert "v1 approved" in first and "#lofi" in first and "#chill" in first
    shot(page, "quick-insert")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "quick-insert-375")
    page.set_viewport_size(DESKTOP)

    # The keyboard: down into the list, down and up again, Escape back to the prompt.
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent").strip().startswith("Rainy cafe")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "id_prompt"
    # Text that does not start with a slash: no list.
    prompt_field(page).fill("plain words")
    page.locator("#quick-insert a.quick-item").first.wait_for(state="detached")
    prompt_field(page).fill("")
    page.keyboard.type("/cafe")
    results.first.wait_for()
    assert results.count() == 1
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")

    # Generate, filled as the library's Use fills it: the approved version, its settings and a
    # field for its variable.
    page.wait_for_url(at(f"/library/{rain.pk}/use/"))
    assert prompt_field(page).input_value() == "{{mood|select:calm,dark=calm}} rain and piano"
    assert page.get_by_label(re.compile(r"^mood( \*)?$")).input_value() == "calm"
    assert page.get_by_label("Length in seconds").input_value() == "30"
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get()
    assert job.prompt == "calm rain and piano"
    assert PromptRun.objects.get(job=job).version.number == 1


def test_export_wipe_then_import_with_a_preview_and_confirm(page, member, admin_user, tmp_path):
    rain = make_prompt(member, title="Rainy cafe", text="rain and piano", tags=["lofi"])
    rain.text = "heavy rain and piano"
    versioning.save_prompt(rain, member, note="heavier")
    make_prompt(member, title="Diary", text="mine only", private=True, lyrics="la la")
    make_prompt(member, title="Boss fight", text="epic drums", tags=["game"])

    sign_in(page, "member", "member-pass-123")
    page.goto("/library/?tag=lofi")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Export these")).click()
    lofi = json.loads(open(download.value.path()).read())  # noqa: SIM115
    assert [p["title"] for p in lofi["prompts"]] == ["Rainy cafe"]
    page.goto("/library/")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Export")).click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("studio-prompts-") and saved.suffix == ".json"

    # Boss fight stays; the other two go, and the file brings them back.
    Prompt.objects.exclude(title="Boss fight").delete()
    page.goto("/library/")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "library-375")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("link", name="Import").click()
    page.wait_for_url(at("/library/import/"))
    page.get_by_label(re.compile("A library export")).set_input_files(str(saved))
    page.get_by_role("button", name="Preview the import").click()
    page.wait_for_url(at("/library/import/preview/"))
    assert page.locator(".import-summary").text_content().split() == [
        "2", "to", "create", "0", "to", "update", "1", "to", "skip",
    ]  # fmt: skip
    assert page.locator("#record-1 .step-action").text_content() == "Skip"  # newest first
    assert Prompt.objects.count() == 1  # nothing written before the confirm
    shot(page, "library-import-preview")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "library-import-preview-375")
    page.set_viewport_size(DESKTOP)

    page.get_by_role("button", name="Import 2 prompts").click()
    page.wait_for_url(at("/library/"))
    assert "2 created, 0 updated, 1 skipped" in page.locator(".messages").text_content()
    rain = Prompt.objects.get(title="Rainy cafe")
    assert rain.text == "heavy rain and piano" and rain.tag_list == ["lofi"]
    assert list(rain.versions.order_by("number").values_list("text", flat=True)) == [
        "rain and piano",
        "heavy rain and piano",
    ]
    assert Prompt.objects.get(title="Diary").private
    assert PromptVersion.objects.filter(prompt__title="Diary").count() == 1


def test_a_bad_file_is_refused_in_the_page_and_nothing_is_written(page, member, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "format": "studio-prompts",
                "version": 1,
                "prompts": [{"title": "Good", "text": "fine"}, {"text": "{{x"}],
            }
        )
    )
    sign_in(page, "member", "member-pass-123")
    page.goto("/library/import/")
    page.get_by_label(re.compile("A library export")).set_input_files(str(bad))
    page.get_by_role("button", name="Preview the import").click()
    page.wait_for_url(at("/library/import/preview/"))
    problems = page.locator("#record-2 .step-problems").text_content()
    assert "title is missing" in problems and "unclosed {{" in problems
    assert "Nothing can be imported" in page.get_by_role("alert").text_content()
    assert page.get_by_role("button", name=re.compile("^Import")).count() == 0
    assert not Prompt.objects.exists()
    shot(page, "library-import-refused")
