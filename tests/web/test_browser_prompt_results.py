"""Results per library prompt and cost per keeper by prompt, clicked in Debian's chromium
(issue 14, item 6; issue 13, item 8): star a prompt, sort the library by USD per kept take and
read the figures; the prompt's page; "by library prompt" on /usage/ and in the admin's spend
overview; and Use -> Generate showing the prompt's expected cost per keeper beside the quote.
Screenshots at desktop and 375 px with STUDIO_SCREENSHOTS set."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs import keepers
from jobs.models import Job
from studio.models import PromptRun, PromptStar
from tests.browser_helpers import DESKTOP, PHONE, shot, sign_in, sign_in_admin
from wallets import budgets

from .ui_helpers import make_job, make_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def run(prompt, user, wallet, usd="0.5", *, kept=False, ago_days=0) -> Job:
    when = timezone.now() - datetime.timedelta(days=ago_days)
    job = make_job(
        user,
        wallet,
        prompt=prompt.text,
        settled_usd=Decimal(usd),
        quoted_usd=Decimal(usd),
        budget_month=budgets.month_of(timezone.now()),
        finished_at=when,
    )
    Job.objects.filter(pk=job.pk).update(created_at=when)
    PromptRun.objects.create(job=job, prompt=prompt, version=prompt.versions.first())
    if kept:
        keepers.keep(job, user)
    return job


def card(page, prompt):
    return page.locator(f"#prompt-{prompt.pk}")


def figures(page, prompt) -> dict[str, str]:
    results = card(page, prompt).locator("dl.prompt-results")
    return dict(
        zip(
            results.locator("dt").all_inner_texts(),
            results.locator("dd").all_inner_texts(),
            strict=True,
        )
    )


def shown_titles(page) -> list[str]:
    return [t.strip() for t in page.locator(".prompt-title").all_inner_texts()]


@pytest.fixture
def library(member, other, wallet_row, venice):
    harbour = make_prompt(other, title="Harbour bells", tags=["ambient"])
    boss = make_prompt(other, title="Boss fight drums", tags=["game"])
    rain = make_prompt(member, title="Rain on a tin roof", tags=["sfx"])
    for n in range(4):
        run(harbour, member, wallet_row, "0.25", kept=n < 2)  # $1.00, 2 kept: $0.50
    for n in range(2):
        run(boss, other, wallet_row, "2", kept=n == 0, ago_days=2)  # $4.00, 1 kept: $4.00
    for _ in range(3):
        run(rain, member, wallet_row, "0.5", ago_days=6)  # $1.50, none kept: —
    make_prompt(member, title="Untried idea")
    return {"harbour": harbour, "boss": boss, "rain": rain}


@pytest.mark.usefixtures("no_page_errors")
def test_star_a_prompt_sort_by_usd_per_kept_take_and_read_the_figures(page, member, library):
    sign_in(page, "member", "member-pass-123")
    page.goto("/library/")
    assert figures(page, library["harbour"]) == {
        "Runs": "4",
        "Spent": "$1.00",
        "Kept": "2 of 4",
        "Per kept take": "$0.50",
    }
    assert figures(page, library["rain"])["Per kept take"] == "—"

    # Star the rain prompt (htmx swaps the button in place).
    star = card(page, library["rain"]).get_by_role("button", name="Star")
    assert star.get_attribute("aria-pressed") == "false"
    with page.expect_response(lambda r: r.url.endswith(f"/library/{library['rain'].pk}/star/")):
        star.click()
    starred = card(page, library["rain"]).get_by_role("button", name="Starred")
    starred.wait_for()
    assert starred.get_attribute("aria-pressed") == "true"
    assert PromptStar.objects.filter(user=member, prompt=library["rain"]).exists()

    # Sort by USD per kept take: my star first, then the cheapest keeper, "—" last.
    page.get_by_label("Sort").select_option("per_kept")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"sort=per_kept"))
    assert page.get_by_label("Sort").input_value() == "per_kept"
    assert shown_titles(page)[:3] == ["Rain on a tin roof", "Harbour bells", "Boss fight drums"]
    assert figures(page, library["boss"])["Per kept take"] == "$4.00"
    last_used = card(page, library["boss"]).locator(".last-used").inner_text()
    assert last_used.replace("\xa0", " ") == "last used 2 days ago"
    shot(page, "library-results")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "library-results-375")

    # The prompt's own page: its results, and the star, unstarred from there.
    page.set_viewport_size(DESKTOP)
    card(page, library["harbour"]).get_by_role("link", name="History").click()
    page.wait_for_url(f"**/library/{library['harbour'].pk}/history/")
    results = page.get_by_role("region", name="Results")
    assert "$0.50" in results.inner_text() and "2 of 4" in results.inner_text()
    assert "Last used" in results.inner_text()
    with page.expect_response(lambda r: r.url.endswith("/star/")):
        page.get_by_role("button", name="Star").click()
    page.get_by_role("button", name="Starred").wait_for()
    shot(page, "prompt-results")


@pytest.mark.usefixtures("no_page_errors")
def test_another_members_stars_do_not_move_my_library(page, member, other, library):
    PromptStar.objects.create(user=other, prompt=library["boss"])
    sign_in(page, "member", "member-pass-123")
    page.goto("/library/?sort=title")
    assert shown_titles(page)[0] == "Boss fight drums"  # by title anyway
    page.goto("/library/?sort=runs")
    assert shown_titles(page)[0] == "Harbour bells"  # their star is not mine
    assert card(page, library["boss"]).get_by_role("button", name="Star").is_visible()


@pytest.mark.usefixtures("no_page_errors")
def test_cost_per_keeper_by_library_prompt_on_my_usage(page, member, library):
    sign_in(page, "member", "member-pass-123")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My usage").click()
    table = page.locator("#cost-per-keeper-by-prompt")
    table.scroll_into_view_if_needed()
    rows = table.locator("tbody tr")
    assert rows.nth(0).inner_text().split("\t") == ["Rain on a tin roof", "$1.50", "0 of 3", "—"]
    assert rows.nth(1).inner_text().split("\t") == ["Harbour bells", "$1.00", "2 of 4", "$0.50"]
    assert rows.count() == 2  # the boss fight's runs are another member's
    shot(page, "usage-keepers-by-prompt")
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("#cost-per-keeper-by-prompt").scroll_into_view_if_needed()
    # The table fits the card: nothing to scroll sideways for.
    wrap = page.locator(".table-wrap", has=page.locator("#cost-per-keeper-by-prompt"))
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth")
    shot(page, "usage-keepers-by-prompt-375")
    page.locator("#cost-per-keeper-by-prompt").get_by_role("link", name="Harbour bells").click()
    page.wait_for_url(f"**/library/{library['harbour'].pk}/history/")


@pytest.mark.usefixtures("no_page_errors")
def test_use_a_prompt_and_see_its_expected_cost_per_keeper(page, member, wallet):
    prompt = make_prompt(member, title="Harbour bells")
    for n in range(4):
        run(prompt, member, wallet, kept=n == 0)
    sign_in(page, "member", "member-pass-123")
    page.goto("/library/")
    card(page, prompt).get_by_role("link", name="Use").click()
    page.wait_for_url(re.compile(r"/library/\d+/use/$"))
    per_keeper = page.locator("#per-keeper")
    assert "from this library prompt" in per_keeper.inner_text()
    assert "kept 1 of 4" in per_keeper.inner_text()
    price = Decimal(page.locator("#price").inner_text().lstrip("$"))
    # One take kept in four: a keeper of this prompt costs four takes' price.
    assert Decimal(per_keeper.locator("strong").inner_text().lstrip("$")) == price * 4
    shot(page, "generate-prompt-per-keeper")


def test_the_admin_reads_cost_per_keeper_by_library_prompt(page, admin_user, library):
    sign_in_admin(page, admin_user)
    page.goto("/admin/review/spend/")
    table = page.locator("#cost-per-keeper table.keepers-library-prompt")
    table.scroll_into_view_if_needed()
    rows = table.locator("tbody tr")
    assert rows.nth(0).inner_text().split("\t") == ["Boss fight drums", "$4.00", "2", "1", "$4.00"]
    assert "—" in table.inner_text()
    shot(page, "admin-keepers-by-prompt")
