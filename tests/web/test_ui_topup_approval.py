"""A top-up above the wallet's approval amount, clicked through by two admins in Debian's
chromium: the first asks and cannot approve it, the second approves it, and it pays once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.browser_helpers import shot, sign_in_admin
from wallets import payments
from wallets.models import TopUp, TopUpApproval

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_one_admin_asks_another_approves(
    page, browser, live_server, admin_user, second_admin, wallet
):
    wallet.approve_topups_above_usd = Decimal("5")
    wallet.save()

    sign_in_admin(page, admin_user)
    page.goto(f"/admin/wallets/wallet/{wallet.pk}/top-up/")
    page.get_by_label("Amount (USD)").fill("10")
    page.get_by_role("button", name="Top up now").click()
    page.get_by_text("waits for a second admin's approval").first.wait_for()
    assert not TopUp.objects.exists()

    # The admin who asked sees it waiting, and is refused if they approve it themselves.
    page.goto("/admin/wallets/topupapproval/")
    page.get_by_role("link", name=str(TopUpApproval.objects.get().created_at.year)).first.click()
    page.get_by_text("You asked for this top-up: another admin must approve it").wait_for()
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("A second admin must approve a top-up you asked for.").wait_for()
    assert TopUpApproval.objects.get().status == TopUpApproval.Status.WAITING

    other = browser.new_context(base_url=live_server.url).new_page()
    sign_in_admin(other, second_admin, password="second-pass-123")
    other.goto(f"/admin/wallets/topupapproval/{TopUpApproval.objects.get().pk}/change/")
    other.get_by_label("Note:").fill("For the launch week")
    shot(other, "admin-topup-approval")
    other.get_by_role("button", name="Approve").click()
    other.get_by_text("Approved: the worker signs and sends").wait_for()
    other.context.close()

    payments.use_approval(TopUpApproval.objects.get().pk)  # the task the approval queued
    assert TopUp.objects.get().status == TopUp.Status.CREDITED
    assert TopUpApproval.objects.get().status == TopUpApproval.Status.USED
