"""A manual top-up from the wallet page lands in the audit log, as the command line's does."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.twofactor_helpers import sign_in_staff
from wallets.models import AuditEntry, TopUp

pytestmark = pytest.mark.django_db


def test_a_top_up_from_the_wallet_page_is_audited_with_the_admin_who_asked(
    client, admin_user, wallet
):
    sign_in_staff(client, admin_user)
    response = client.post(reverse("wallets:top_up"), {"amount_usd": "7.50"}, follow=True)
    assert "Top-up of $7.50: Credited $7.50." in response.content.decode()
    topup = TopUp.objects.get()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.MANUAL_TOPUP)
    assert entry.actor == admin_user
    assert (entry.object_type, entry.object_id) == ("wallets.TopUp", str(topup.pk))
    assert entry.after == {"usd": "7.50"} and entry.note == "wallet page"
    # The admin's audit list shows it.
    page = client.get("/admin/wallets/auditentry/").content.decode()
    assert "Manual top-up" in page and "admin" in page


def test_the_page_and_the_command_line_write_the_same_kind_of_entry(client, admin_user, wallet):
    call_command("topup", "--wallet", "team", "--usd", "5", stdout=io.StringIO())
    sign_in_staff(client, admin_user)
    client.post(reverse("wallets:top_up"), {"amount_usd": "5"})
    entries = list(AuditEntry.objects.filter(action=AuditEntry.Action.MANUAL_TOPUP).order_by("id"))
    assert [e.object_type for e in entries] == ["wallets.TopUp", "wallets.TopUp"]
    assert [e.actor for e in entries] == [None, admin_user]
    assert {e.object_id for e in entries} == {str(t.pk) for t in TopUp.objects.all()}


def test_a_refused_top_up_writes_no_entry_and_no_top_up(client, admin_user, wallet):
    sign_in_staff(client, admin_user)
    # Above the wallet's policy (10 USD a top-up): refused before anything is signed.
    response = client.post(reverse("wallets:top_up"), {"amount_usd": "50"}, follow=True)
    assert "No top-up:" in response.content.decode()
    assert not TopUp.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.MANUAL_TOPUP).exists()
