"""The member's wallet page, and the admin-only actions the server refuses to members."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from wallets.models import TopUp

from .ui_helpers import make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def paying():
    wallet = make_wallet()
    TopUp.objects.create(
        wallet=wallet,
        status=TopUp.Status.CREDITED,
        amount_usd=Decimal("10"),
        amount_atomic="10000000",
        network="eip155:8453",
        asset="0x" + "11" * 20,
        pay_to="0x" + "22" * 20,
        payer=wallet.address,
        nonce="0x" + "33" * 32,
        valid_before=timezone.now(),
        payment_header="-",
        tx_hash="0x" + "44" * 32,
        receipt=TopUp.Receipt.VERIFIED,
    )
    return wallet


def test_member_sees_who_pays_balances_address_qr_and_topups(client, member, paying):
    client.force_login(member)
    page = client.get(reverse("wallets:wallet")).content.decode()
    assert "Who pays: team" in page
    assert "$12.50" in page and "990.00 USDC" in page
    assert paying.address in page
    assert '<img class="qr" src="data:image/svg+xml' in page and 'alt="QR code' in page
    assert "Credited" in page and "Transfer found on chain" in page
    assert "$25.00</strong> left of $25.00" in page


def test_admin_actions_are_hidden_from_members(client, member, paying):
    client.force_login(member)
    page = client.get(reverse("wallets:wallet")).content.decode()
    assert "Top up now" not in page and "Check balances now" not in page


def test_admin_actions_are_refused_to_members_by_the_server(client, member, paying):
    client.force_login(member)
    assert client.post(reverse("wallets:top_up"), {"amount_usd": "10"}).status_code == 403
    assert client.post(reverse("wallets:refresh")).status_code == 403
    assert paying.topups.count() == 1


def test_admins_see_the_actions(staff_client, client, admin_user, paying):
    page = client.get(reverse("wallets:wallet")).content.decode()
    assert "Top up now" in page and "Check balances now" in page


def test_admin_top_up_amount_is_checked(staff_client, client, admin_user, paying):
    response = client.post(reverse("wallets:top_up"), {"amount_usd": "1"}, follow=True)
    assert "A top-up is between $5 and $10,000." in response.content.decode()
    assert paying.topups.count() == 1


def test_no_wallet_yet(client, member):
    client.force_login(member)
    assert "No wallet pays for jobs yet" in client.get(reverse("wallets:wallet")).content.decode()
