"""Cost per keeper on the admin's spend overview, and the retention of discarded audio set in
the admin, in Debian's chromium (issue 13, items 3 and 8). The admin's pages ask for a
/favicon.ico that 404s, so this module does not fail on failed loads like test_browser_keepers.
"""

from __future__ import annotations

import pytest

from jobs import keepers
from tests.browser_helpers import shot, sign_in_admin

from .test_browser_keepers import take

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_admin_reads_cost_per_keeper_on_the_spend_overview_and_sets_the_retention(
    page, member, admin_user, wallet_row, venice
):
    for n in range(2):
        job = take(member, wallet_row, f"Wind chimes {n}", "0.75")
        if n == 0:
            keepers.keep(job, member)
    take(member, wallet_row, "Glass break", "0.25", model_id="elevenlabs-sound-effects-v2")
    sign_in_admin(page, admin_user)
    page.goto("/admin/review/spend/")
    section = page.locator("#cost-per-keeper")
    section.scroll_into_view_if_needed()
    members = section.locator("table.keepers-member tbody tr")
    assert members.nth(0).inner_text().split("\t") == ["member", "$1.75", "3", "1", "$1.75"]
    models = section.locator("table.keepers-model")
    assert "—" in models.locator("tbody tr").nth(1).inner_text()
    assert models.locator("tfoot").inner_text().split("\t") == [
        "Total",
        "$1.75",
        "3",
        "1",
        "$1.75",
    ]
    shot(page, "admin-spend-keepers")

    page.goto("/admin/jobs/retention/")
    page.get_by_label("Discarded audio days").fill("14")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    assert keepers.retention_days() == 14
