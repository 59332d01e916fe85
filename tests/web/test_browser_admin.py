"""An admin's spend review in Debian's chromium: sign in, open the spend overview, run the
reconciliation, resolve the difference it finds with a note.

With STUDIO_SCREENSHOTS=<folder> set, the overview is saved there as admin-spend.png.
"""

from __future__ import annotations

import os
import re

import httpx
import pytest

from jobs import pipeline
from review.models import Difference
from tests.browser_helpers import shot, sign_in_admin
from tests.jobs_helpers import MUSIC, run_to_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_review_spend_reconcile_and_resolve(page, admin_user, member, wallet, venice):
    for fields in (MUSIC, {**MUSIC, "prompt": "contraband swing", "duration_seconds": 120}):
        run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=fields))
    run_to_end(
        pipeline.create_job(
            user=admin_user,
            model_id="elevenlabs-sound-effects-v2",
            fields={"prompt": "glass shattering on stone", "duration_seconds": 4},
        )
    )
    # Venice's ledger gets a charge no job of ours explains.
    httpx.post(
        f"{venice.base_url}/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": "CHARGE",
            "amount": "0.42",
            "requestId": "who-is-this",
            "modelId": "minimax-music-v25",
        },
    ).raise_for_status()

    sign_in_admin(page, admin_user)  # with staff's second factor
    page.get_by_role("link", name="Spend overview").first.click()
    page.wait_for_url(re.compile(r"/admin/review/spend/$"))
    assert page.get_by_role("heading", name="Spend overview").is_visible()
    assert page.locator("#spend-month").text_content().startswith("$")
    assert page.get_by_role("img", name=re.compile("Spend per day")).is_visible()
    assert page.locator("#open-differences").text_content().strip() == "0 open differences"

    # Run the reconciliation: it reads Venice's ledger and finds the stray charge.
    page.get_by_role("button", name="Run reconciliation now").click()
    page.wait_for_url(re.compile(r"/admin/review/spend/$"))
    assert "1 difference(s) found" in page.locator(".messagelist").text_content()
    assert page.locator("#open-differences").text_content().strip() == "1 open difference"
    member_row = page.locator("#by-member tbody tr", has_text="Unattributed")
    assert "$0.42" in member_row.text_content()
    shot(page, "admin-spend")

    # Resolve it with a note.
    page.locator("#open-differences a").click()
    page.wait_for_url(re.compile(r"/admin/review/difference/"))
    row = page.locator("#result_list tbody tr", has_text="who-is-this")
    assert "Charge with no job" in row.text_content()
    shot(page, "admin-differences")
    row.get_by_role("link", name="Resolve").click()
    shot(page, "admin-resolve")
    page.get_by_label("Note").fill("A test charge from Venice support; refunded by email.")
    page.get_by_role("button", name="Mark resolved").click()
    page.wait_for_url(re.compile(r"/admin/review/difference/$"))
    assert "Resolved: Charge with no job" in page.locator(".messagelist").text_content()
    assert page.locator("#result_list tbody tr").count() == 0  # no open difference left

    difference = Difference.objects.get()
    assert difference.resolved_by == admin_user
    assert difference.note.startswith("A test charge")
    page.goto("/admin/review/spend/")
    assert page.locator("#open-differences").text_content().strip() == "0 open differences"
    if os.environ.get("STUDIO_SCREENSHOTS"):
        for url, name in (
            (f"/admin/wallets/wallet/{wallet.pk}/top-up/", "admin-top-up"),
            ("/admin/wallets/wallet/add/", "admin-wallet-add"),
            ("/admin/wallets/ledgerentry/", "admin-ledger"),
        ):
            page.goto(url)
            shot(page, name)
