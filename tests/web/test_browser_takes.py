"""Takes in Debian's chromium (issue 13, items 1 and 6): ask for three, see the price a take and
in all, watch them run side by side until Ready with a real worker and the sandbox, play them and
download one as MP3; a request that does not fit the budget is refused whole.

With STUDIO_SCREENSHOTS set, the form with takes and the compare page are saved at desktop width
and at 375 px.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from mutagen.mp3 import MP3

from jobs.models import Job
from tests.browser_helpers import PHONE, shot, sign_in, switched_to
from wallets import budgets
from wallets.models import Budget

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]

FINISH_MS = 30_000
PROMPT = "slow cinematic strings at dawn"


def fill_the_form_for_three_takes(page) -> None:
    page.goto("/")
    with page.expect_response(switched_to("lyria-3-pro")):
        page.get_by_label("Model").select_option("lyria-3-pro")
    page.wait_for_function("() => document.querySelector('#id_model').value === 'lyria-3-pro'")
    page.get_by_label("Prompt").fill(PROMPT)
    assert page.get_by_label("Takes").input_value() == "1"
    assert page.locator("#price-total").count() == 0
    page.get_by_label("Takes").select_option("3")
    page.wait_for_function(
        "() => (document.querySelector('#price-total') || {}).textContent === '$1.20'"
    )
    assert page.locator("#price").text_content() == "$0.40"
    assert "3 takes $1.20 reserved together" in " ".join(
        page.locator("#quote").inner_text().split()
    )


def test_three_takes_run_side_by_side_to_ready_and_one_downloads_as_mp3(
    page, member, wallet, worker, tmp_path
):
    sign_in(page, "member", "member-pass-123")
    fill_the_form_for_three_takes(page)
    shot(page, "generate-takes")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "generate-takes-375")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/takes/[0-9a-f-]{36}/$"))
    takes = list(Job.objects.order_by("take_number"))
    assert len(takes) == 3 and urlsplit(page.url).path == takes[0].takes_url
    assert page.get_by_text("3 takes are on their way, at $0.40 each ($1.20 in all).").is_visible()
    assert page.locator("article.take").count() == 3
    assert page.get_by_role("heading", name="Take 3").is_visible()

    # Live: the page polls and each take turns into a player in its place, without a reload.
    page.evaluate("window.__notReloaded = true")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/jobs/live/" in r.url else None)
    for job in takes:
        page.locator(f"#take-{job.pk} audio").wait_for(timeout=FINISH_MS)
        badge = page.locator(f"#take-{job.pk} .badge")
        assert badge.text_content().strip().endswith("Ready")
        assert page.locator(f"#take-{job.pk} svg.waveform").is_visible()
    assert page.evaluate("window.__notReloaded") is True and polls
    assert all("view=takes" in url for url in polls)
    count = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == count  # nothing runs: the polling stopped by itself

    # Each take plays on its own.
    second = page.locator(f"#player-{takes[1].pk}")
    second.evaluate(
        "a => { a.load(); return new Promise(r => a.addEventListener("
        "'loadedmetadata', r, {once: true})) }"
    )
    assert second.evaluate("a => a.duration") == pytest.approx(30, abs=0.5)

    # The keeper is chosen here: Keep on the second take, Discard on the third, in place.
    page.locator(f"#take-{takes[1].pk}").get_by_role("button", name="Keep").click()
    kept = page.locator(f"#take-{takes[1].pk}").get_by_role("button", name="Keep")
    kept.and_(page.locator("[aria-pressed=true]")).wait_for()
    page.locator(f"#take-{takes[2].pk}").get_by_role("button", name="Discard").click()
    page.locator(f"#take-{takes[2].pk} .badge.discarded").wait_for()
    assert Job.objects.get(pk=takes[1].pk).kept_at is not None
    assert Job.objects.get(pk=takes[2].pk).discarded_at is not None
    shot(page, "takes")

    # Download the first take as MP3: a real MP3 as long as the WAV.
    first = Job.objects.get(pk=takes[0].pk)
    assert first.audio_format == "wav"
    with page.expect_download() as info:
        page.locator(f"#take-{first.pk}").get_by_role("link", name="Download MP3").click()
    download = info.value
    assert re.fullmatch(
        rf"lyria-3-pro-slow-cinematic-strings-at-dawn-{first.pk}\.mp3", download.suggested_filename
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    mp3 = MP3(saved)
    assert mp3.info.length == pytest.approx(first.audio_duration_s, abs=0.15)
    assert saved.stat().st_size < first.audio_bytes / 4

    # The job page of a take links back to the comparison.
    page.locator(f"#take-{first.pk}").get_by_role("link", name=f"Job {first.pk}").click()
    page.get_by_role("link", name="compare the takes").click()
    page.wait_for_url(f"**{first.takes_url}")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "takes-375")


def test_three_takes_over_the_budget_are_refused_whole_in_the_browser(page, member, wallet):
    budget = budgets.member_budget(member.pk, budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("1.00"))
    sign_in(page, "member", "member-pass-123")
    fill_the_form_for_three_takes(page)
    assert page.get_by_text("Studio will refuse it").is_visible()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_load_state()
    alert = page.locator(".errors")
    assert "Nothing was created" in alert.text_content()
    assert page.get_by_text("2 takes would fit").is_visible()
    assert page.get_by_label("Takes").input_value() == "3"  # kept, to lower it
    assert Job.objects.count() == 0
    budget.refresh_from_db()
    assert budget.reserved_usd == 0
    # Two fit: asked for, they are made.
    page.get_by_label("Takes").select_option("2")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/takes/[0-9a-f-]{36}/$"))
    assert Job.objects.count() == 2
