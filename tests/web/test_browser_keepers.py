"""Keep, favourite, discard and restore, clicked in Debian's chromium on the job list and a job's
page; what another member then sees; and cost per keeper on /usage/ and beside the quote
(issue 13, items 3 and 8). Screenshots at desktop and 375 px with STUDIO_SCREENSHOTS set."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from jobs import keepers
from jobs.models import Favourite, Job
from tests.browser_helpers import PHONE, shot, sign_in, switched_to
from wallets import budgets

from .ui_helpers import give_audio, make_job, wav_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]


def take(user, wallet, prompt: str, usd: str = "0.5", **fields) -> Job:
    now = timezone.now()
    job = make_job(
        user,
        wallet,
        prompt=prompt,
        quoted_usd=Decimal(usd),
        settled_usd=Decimal(usd),
        budget_month=budgets.month_of(now),
        audio_peaks=[0.2, 0.6, 0.9, 0.5, 0.3] * 20,
        **fields,
    )
    return give_audio(job, wav_bytes(2.0))


def row(page, job):
    return page.locator(f"#job-{job.pk}")


def click_and_wait(page, locator, action: str) -> None:
    """Click a keeper button and wait for htmx's swap of the answer."""
    with page.expect_response(lambda r: r.url.endswith(f"/{action}/")):
        locator.click()
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def test_keep_favourite_discard_and_restore_from_the_list_and_the_job(
    page, member, wallet_row, venice
):
    rain = take(member, wallet_row, "Rain on a tin roof")
    thunder = take(member, wallet_row, "Distant thunder rolling")
    sign_in(page, "member", "member-pass-123")
    page.goto("/jobs/")

    keep = row(page, rain).get_by_role("button", name="Keep")
    assert keep.get_attribute("aria-pressed") == "false"
    click_and_wait(page, keep, "keep")
    keep = row(page, rain).get_by_role("button", name="Keep")
    assert keep.get_attribute("aria-pressed") == "true"
    assert Job.objects.get(pk=rain.pk).kept_by == member

    favourite = row(page, rain).get_by_role("button", name="Favourite")
    click_and_wait(page, favourite, "favourite")
    assert row(page, rain).get_by_role("button", name="Favourite").get_attribute(
        "aria-pressed"
    ) == ("true")
    assert "★" in row(page, rain).get_by_role("button", name="Favourite").inner_text()

    click_and_wait(page, row(page, thunder).get_by_role("button", name="Discard"), "discard")
    discarded = row(page, thunder)
    assert "discarded" in discarded.get_attribute("class")
    assert discarded.get_by_text("Discarded").is_visible()
    assert discarded.get_by_role("button", name="Restore").is_visible()
    assert float(discarded.evaluate("e => getComputedStyle(e).opacity")) < 1
    shot(page, "keepers-jobs")

    # The discarded take's own page: greyed, the date its audio goes, and Restore.
    discarded.get_by_role("link", name="Distant thunder rolling").click()
    page.wait_for_url(f"**/jobs/{thunder.pk}/")
    live = page.locator(f"#job-{thunder.pk}-live")
    assert "unless restored" in live.inner_text()
    click_and_wait(page, live.get_by_role("button", name="Restore"), "restore")
    live = page.locator(f"#job-{thunder.pk}-live")
    assert "discarded" not in live.get_attribute("class")
    click_and_wait(page, live.get_by_role("button", name="Keep"), "keep")
    click_and_wait(page, page.get_by_role("button", name="Favourite"), "favourite")
    live = page.locator(f"#job-{thunder.pk}-live")
    assert live.get_by_role("button", name="Keep").get_attribute("aria-pressed") == "true"
    assert "Kept" in live.inner_text() and "by member" in live.inner_text()
    assert Favourite.objects.filter(user=member, job=thunder).exists()
    assert page.locator("#player").is_visible()  # the player is swapped in again
    page.wait_for_function(
        "() => document.querySelector('#timeline').textContent.includes('Kept by member')"
    )
    shot(page, "keepers-job")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "keepers-job-375")
    click_and_wait(page, page.get_by_role("button", name="Discard"), "discard")
    assert page.get_by_role("button", name="Restore").is_visible()
    page.goto("/jobs/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "keepers-jobs-375")

    # Back to what was kept: the list's "Marked" filter.
    page.get_by_label("Marked").select_option("kept")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/jobs/?*mark=kept*")
    assert page.locator("li.job").count() == 1
    assert row(page, rain).is_visible()


def test_another_member_sees_no_discarded_take_and_favourites_only_for_themselves(
    page, member, other, wallet_row, venice
):
    kept = take(member, wallet_row, "Seagulls over the harbour")
    gone = take(member, wallet_row, "Squeaky hinge")
    keepers.keep(kept, member)
    keepers.discard(gone, member)

    sign_in(page, "other", "x")
    page.goto("/jobs/?who=team")
    assert page.get_by_text("Seagulls over the harbour").is_visible()
    assert page.get_by_text("Squeaky hinge").count() == 0
    theirs = row(page, kept)
    assert theirs.get_by_text("Kept").is_visible()  # a badge: not theirs to un-keep
    assert theirs.get_by_role("button", name="Keep").count() == 0
    assert theirs.get_by_role("button", name="Discard").count() == 0
    click_and_wait(page, theirs.get_by_role("button", name="Favourite"), "favourite")
    assert row(page, kept).get_by_role("button", name="Favourite").get_attribute(
        "aria-pressed"
    ) == ("true")
    assert not Favourite.objects.filter(user=member).exists()

    # Its download is refused, with their session (the page's cookies).
    assert page.request.get(f"/jobs/{gone.pk}/audio/?download=1").status == 404
    assert page.request.get(f"/jobs/{kept.pk}/audio/?download=1").status == 200


def test_cost_per_keeper_on_my_usage(page, member, wallet_row, venice):
    for n in range(3):
        job = take(member, wallet_row, f"Footsteps on gravel {n}", model_id="elevenlabs-music")
        if n == 0:
            keepers.keep(job, member)
    take(member, wallet_row, "Coin drop", "0.1", model_id="elevenlabs-sound-effects-v2")

    sign_in(page, "member", "member-pass-123")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My usage").click()
    page.get_by_role("heading", name="My usage").wait_for()
    assert "1 of 4 takes, $1.60 per kept take" in page.locator("#kept-takes").inner_text()
    table = page.get_by_role("region", name="Cost per keeper").locator("tbody tr")
    assert table.nth(0).inner_text().split("\t") == ["elevenlabs-music", "$1.50", "1 of 3", "$1.50"]
    assert table.nth(1).inner_text().split("\t") == [
        "elevenlabs-sound-effects-v2",
        "$0.10",
        "0 of 1",
        "—",
    ]
    page.get_by_role("region", name="Cost per keeper").scroll_into_view_if_needed()
    shot(page, "usage-keepers")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The table fits the card: nothing to scroll sideways for.
    wrap = page.get_by_role("region", name="Cost per keeper").locator(".table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth")
    shot(page, "usage-keepers-375")


def test_the_expected_cost_per_keeper_beside_the_quote(page, member, wallet):
    for n in range(4):
        job = take(member, wallet, f"Calm piano {n}", finished_at=timezone.now())
        if n == 0:
            keepers.keep(job, member)
    sign_in(page, "member", "member-pass-123")
    page.goto("/")
    with page.expect_response(switched_to("elevenlabs-sound-effects-v2")):
        page.get_by_label("Model").select_option("elevenlabs-sound-effects-v2")
    page.wait_for_function("() => document.querySelector('#per-keeper') !== null")
    assert "no kept takes of this model yet" in page.locator("#per-keeper").inner_text()
    with page.expect_response(switched_to("elevenlabs-music")):
        page.get_by_label("Model").select_option("elevenlabs-music")
    page.wait_for_function(
        "() => (document.querySelector('#per-keeper') || {}).textContent.includes('kept 1 of 4')"
    )
    price = page.locator("#price").inner_text()
    per_keeper = page.locator("#per-keeper strong").inner_text()
    # One take kept in four: a keeper costs four takes' price.
    assert Decimal(per_keeper.lstrip("$")) == Decimal(price.lstrip("$")) * 4
    shot(page, "generate-per-keeper")
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("#per-keeper").scroll_into_view_if_needed()
    shot(page, "generate-per-keeper-375")
