"""My usage, clicked through in Debian's chromium: a member finds it in the navigation and reads
their month: budget, reset, forecast, spend by day and by model, at desktop and phone width."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser_helpers import PHONE, shot, sign_in, sign_in_admin
from wallets import budgets
from wallets.models import AuditEntry, Budget, BudgetRequest

from .ui_helpers import make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def spend(member, wallet, model: str, usd: str) -> None:
    now = timezone.now()
    make_job(
        member,
        wallet,
        model_id=model,
        quoted_usd=Decimal(usd),
        settled_usd=Decimal(usd),
        budget_month=budgets.month_of(now),
        finished_at=now,
    )


def test_a_member_reads_their_month_from_the_navigation(page, member, wallet):
    month = budgets.month_of(timezone.now())
    spend(member, wallet, "elevenlabs-music", "3.5")
    spend(member, wallet, "elevenlabs-sound-effects-v2", "0.25")
    budgets.member_budget(member.pk, month)
    Budget.objects.filter(user=member, month=month).update(
        limit_usd=Decimal("10"), spent_usd=Decimal("3.75")
    )

    sign_in(page, "member", "member-pass-123")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My usage").click()
    page.get_by_role("heading", name="My usage").wait_for()
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name="My usage")
    assert link.get_attribute("aria-current") == "page"

    budget = page.get_by_role("region", name="This month's budget")
    assert "37 %" in budget.inner_text()
    assert "$3.75" in budget.inner_text() and "on 2 completed jobs" in budget.inner_text()
    assert "$6.25 of $10.00" in budget.inner_text()
    first_of_next = (month + datetime.timedelta(days=32)).replace(day=1)
    assert f"{first_of_next:%B} {first_of_next.day}, {first_of_next.year}" in budget.inner_text()
    assert "by the end of the month" in page.locator("#forecast").inner_text()

    # Each day's column and each model's bar says its figure on hover (an SVG <title>).
    day = page.get_by_role("region", name="By day").locator("rect.bar title")
    today = timezone.now().astimezone(datetime.UTC)
    assert f"{today:%Y-%m-%d}: $3.75 (2 jobs)" in day.all_text_contents()
    models = page.get_by_role("region", name="By model")
    assert models.get_by_role("cell", name="elevenlabs-music").is_visible()
    assert models.locator("tbody tr").first.inner_text().split("\t") == [
        "elevenlabs-music",
        "1",
        "$3.50",
    ]
    shot(page, "usage")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "usage-phone")


def test_a_member_with_no_spend_yet_is_told_so(page, member, wallet):
    sign_in(page, "member", "member-pass-123")
    page.goto("/usage/")
    assert page.get_by_role("region", name="By model").get_by_text("Nothing spent yet").is_visible()
    assert "0 %" in page.get_by_role("region", name="This month's budget").inner_text()


def test_a_member_asks_for_more_and_an_admin_approves_it(
    page, browser, live_server, member, admin_user, wallet
):
    month = budgets.month_of(timezone.now())
    budgets.member_budget(member.pk, month)
    Budget.objects.filter(user=member, month=month).update(limit_usd=Decimal("10"))
    sign_in(page, "member", "member-pass-123")
    page.goto("/usage/")
    ask = page.get_by_role("region", name="Need more?")

    # A bad amount is refused with a message, and nothing is asked.
    ask.get_by_label("How much more (USD)").fill("0")
    ask.get_by_label("Reason").fill("A game jam this weekend")
    ask.get_by_role("button", name="Ask for more").click()
    page.get_by_text("greater than or equal to 0.01").wait_for()
    assert not BudgetRequest.objects.exists()

    ask = page.get_by_role("region", name="Need more?")
    ask.get_by_label("How much more (USD)").fill("15")
    ask.get_by_label("Reason").fill("A game jam this weekend")
    ask.get_by_role("button", name="Ask for more").click()
    page.get_by_text("Your request is with the admins").wait_for()
    assert "$15.00 for" in ask.inner_text() and "Waiting for an admin" in ask.inner_text()
    shot(page, "usage-asked")

    # An admin finds it waiting on the spend overview and approves it with a note.
    admin = browser.new_context(base_url=live_server.url).new_page()
    sign_in_admin(admin, admin_user)
    admin.goto("/admin/review/spend/")
    admin.get_by_role("link", name="1 budget request waiting for an answer").click()
    admin.get_by_role("link", name="member", exact=True).click()
    admin.get_by_text("A game jam this weekend").wait_for()
    admin.get_by_label("Note:").fill("Have a good jam")
    shot(admin, "admin-budget-request-answer")
    admin.get_by_role("button", name="Approve").click()
    admin.get_by_text("Approved: member asks for $15.00 more").wait_for()
    shot(admin, "admin-budget-request")
    admin.context.close()

    page.reload()
    ask = page.get_by_role("region", name="Need more?")
    assert "Approved by admin" in ask.inner_text() and "Have a good jam" in ask.inner_text()
    assert "$25.00 of $25.00" in page.get_by_role("region", name="This month's budget").inner_text()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.BUDGET_REQUEST).count() == 1
