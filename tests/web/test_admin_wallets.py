"""Wallet management in the admin: create or import (the key read once, never shown again),
the top-up policy, a manual top-up within the policy's caps, and rotating the encryption key."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone
from eth_account import Account

from wallets import crypto, keys
from wallets.models import AuditEntry, TopUp, Wallet

pytestmark = pytest.mark.django_db
ADD = "/admin/wallets/wallet/add/"


def change_url(wallet) -> str:
    return f"/admin/wallets/wallet/{wallet.pk}/change/"


def everything_shown(client, response, wallet=None) -> str:
    """The response, the pages an admin would look at next, and the audit log, as one text."""
    parts = [response.content.decode()]
    if response.status_code == 302:
        parts.append(client.get(response["Location"]).content.decode())
    parts.append(client.get("/admin/wallets/wallet/").content.decode())
    parts.append(client.get("/admin/wallets/auditentry/").content.decode())
    if wallet is not None:
        parts.append(client.get(change_url(wallet)).content.decode())
    parts += [
        json.dumps([entry.before, entry.after, entry.note, entry.object_repr])
        for entry in AuditEntry.objects.all()
    ]
    return "\n".join(parts)


def test_the_form_never_renders_a_secret(staff_client):
    page = staff_client.get(ADD).content.decode()
    assert 'type="password" name="private_key"' in page
    assert 'type="password" name="api_key"' in page
    # A refused import comes back without the key in the field (or anywhere).
    key = Account.create().key.hex()
    response = staff_client.post(ADD, {"mode": "import", "name": "bad name!", "private_key": key})
    assert response.status_code == 200
    assert key not in response.content.decode()
    assert key[2:] not in response.content.decode()


def test_create_a_wallet(staff_client, admin_user):
    response = staff_client.post(ADD, {"mode": "create", "name": "fresh", "make_default": "on"})
    wallet = Wallet.objects.get(name="fresh")
    assert response.status_code == 302 and response["Location"] == change_url(wallet)
    assert wallet.is_evm and wallet.is_default and wallet.created_by == admin_user
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action) == (admin_user, AuditEntry.Action.WALLET_CREATE)
    assert entry.after["address"] == wallet.address
    assert "secret" not in json.dumps(entry.after)
    page = staff_client.get(response["Location"]).content.decode()
    assert f"fund {wallet.address} with USDC on Base" in page
    assert wallet.secret_encrypted not in everything_shown(staff_client, response, wallet)


def test_import_a_key_it_is_never_shown_again(staff_client, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    account = Account.create()
    key = account.key.hex()
    response = staff_client.post(ADD, {"mode": "import", "name": "imported", "private_key": key})
    wallet = Wallet.objects.get(name="imported")
    assert wallet.address == account.address
    assert crypto.decrypt(wallet.secret_encrypted).removeprefix("0x") == key.removeprefix("0x")
    shown = everything_shown(staff_client, response, wallet)
    assert account.address in shown
    assert key.removeprefix("0x") not in shown
    assert key.removeprefix("0x") not in caplog.text
    assert AuditEntry.objects.get().action == AuditEntry.Action.WALLET_IMPORT


def test_an_import_that_fails_unexpectedly_still_hides_the_key(
    staff_client, settings, caplog, monkeypatch
):
    settings.DEBUG = True  # the development error page would show locals and POST data
    caplog.set_level(logging.DEBUG)
    key = Account.create().key.hex()

    def explode(name, private_key, **kwargs):
        raise RuntimeError(f"database fell over while saving {private_key}")

    monkeypatch.setattr(keys, "import_evm_wallet", explode)
    staff_client.raise_request_exception = False
    response = staff_client.post(ADD, {"mode": "import", "name": "doomed", "private_key": key})
    assert response.status_code == 200
    page = response.content.decode()
    assert "could not save the wallet (RuntimeError)" in page
    assert key.removeprefix("0x") not in page
    assert key.removeprefix("0x") not in caplog.text
    assert not Wallet.objects.filter(name="doomed").exists()
    assert not AuditEntry.objects.exists()


def test_a_duplicate_import_is_refused_by_address_not_by_key(staff_client, wallet):
    key = crypto.decrypt(wallet.secret_encrypted)
    response = staff_client.post(ADD, {"mode": "import", "name": "again", "private_key": key})
    page = response.content.decode()
    assert f"The wallet {wallet.address} is already in Studio." in page
    assert key.removeprefix("0x") not in page


def test_add_an_api_key_wallet(staff_client):
    secret = "vk-" + "s3cr3t" * 5
    response = staff_client.post(ADD, {"mode": "api_key", "name": "account", "api_key": secret})
    wallet = Wallet.objects.get(name="account")
    assert wallet.kind == Wallet.Kind.API_KEY and crypto.decrypt(wallet.secret_encrypted) == secret
    assert secret not in everything_shown(staff_client, response, wallet)
    assert AuditEntry.objects.get().action == AuditEntry.Action.WALLET_API_KEY


def test_import_needs_a_key(staff_client):
    response = staff_client.post(ADD, {"mode": "import", "name": "nokey"})
    assert "Paste the private key to import." in response.content.decode()
    assert not Wallet.objects.filter(name="nokey").exists()


def policy(wallet, **changes) -> dict:
    data = {
        "name": wallet.name,
        "is_default": "on" if wallet.is_default else "",
        "topup_amount_usd": wallet.topup_amount_usd,
        "topup_below_usd": wallet.topup_below_usd,
        "max_topup_per_day_usd": wallet.max_topup_per_day_usd,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_set_the_policy_audited_without_touching_the_workers_fields(
    staff_client, admin_user, wallet
):
    page = staff_client.get(change_url(wallet)).content.decode()
    assert "secret_encrypted" not in page and wallet.secret_encrypted not in page
    # Meanwhile the worker takes the top-up lease and learns the credit.
    lease = timezone.now() + timezone.timedelta(seconds=90)
    Wallet.objects.filter(pk=wallet.pk).update(topup_lease_until=lease, credit_usd=Decimal("3.5"))
    response = staff_client.post(
        change_url(wallet), policy(wallet, topup_amount_usd="25", max_topup_per_day_usd="100")
    )
    assert response.status_code == 302
    wallet.refresh_from_db()
    assert (wallet.topup_amount_usd, wallet.max_topup_per_day_usd) == (25, 100)
    assert wallet.topup_lease_until == lease and wallet.credit_usd == Decimal("3.5")
    entry = AuditEntry.objects.get(action=AuditEntry.Action.POLICY_CHANGE)
    assert entry.actor == admin_user
    assert entry.before == {"topup_amount_usd": "10.00", "max_topup_per_day_usd": "50.00"}
    assert entry.after == {"topup_amount_usd": "25.00", "max_topup_per_day_usd": "100.00"}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"topup_amount_usd": "4"}, "Venice&#x27;s smallest top-up is $5.00."),
        ({"topup_amount_usd": "20000"}, "Venice&#x27;s largest top-up is $10,000.00."),
        ({"max_topup_per_day_usd": "5"}, "The daily cap must allow at least one top-up."),
        ({"is_default": ""}, "Make another wallet the default instead"),
        ({"topup_below_usd": "-1"}, "A credit level cannot be negative."),
    ],
)
def test_a_policy_outside_venices_rules_is_refused(staff_client, wallet, changes, error):
    response = staff_client.post(change_url(wallet), policy(wallet, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_making_another_wallet_the_default(staff_client, wallet):
    other = keys.create_evm_wallet("spare")
    staff_client.post(change_url(other), policy(other, is_default="on"))
    assert list(Wallet.objects.filter(is_default=True)) == [other]


def test_a_manual_top_up_within_the_policy(staff_client, admin_user, wallet):
    url = f"/admin/wallets/wallet/{wallet.pk}/top-up/"
    page = staff_client.get(url).content.decode()
    assert "at most $10.00 per top-up and $50.00 per UTC day" in page
    response = staff_client.post(url, {"amount": "10"})
    assert response.status_code == 302
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.CREDITED and topup.requested_by == admin_user
    assert topup.reason == "manual"
    messages = staff_client.get(response["Location"]).content.decode()
    assert f"Top-up {topup.pk}: Venice credited $10.00" in messages
    entry = AuditEntry.objects.get(action=AuditEntry.Action.MANUAL_TOPUP)
    assert entry.actor == admin_user and entry.object_id == str(topup.pk)
    assert entry.after["outcome"] == "Credited"
    assert topup.payment_header not in json.dumps(entry.after)


def test_a_manual_top_up_above_the_caps_is_refused_before_signing(staff_client, wallet):
    url = f"/admin/wallets/wallet/{wallet.pk}/top-up/"
    page = staff_client.post(url, {"amount": "11"}).content.decode()
    assert "The policy allows at most $10.00 per top-up." in page
    assert "smallest top-up is $5.00" in staff_client.post(url, {"amount": "4"}).content.decode()
    Wallet.objects.filter(pk=wallet.pk).update(max_topup_per_day_usd=Decimal("15"))
    staff_client.post(url, {"amount": "10"})
    page = staff_client.post(url, {"amount": "10"}).content.decode()
    assert "at most $5.00 more today" in page
    assert TopUp.objects.count() == 1


def test_an_api_key_wallet_has_nothing_to_top_up(staff_client):
    wallet = keys.add_api_key_wallet("account", "vk-abcdefghijk")
    page = staff_client.get(f"/admin/wallets/wallet/{wallet.pk}/top-up/").content.decode()
    assert "there is nothing to top up" in page


def test_rotate_the_encryption_key(staff_client, admin_user, settings):
    old = settings.STUDIO_ENCRYPTION_KEYS[0]
    wallet = keys.create_evm_wallet("team", make_default=True)
    secret = crypto.decrypt(wallet.secret_encrypted)
    new = Fernet.generate_key().decode()
    settings.STUDIO_ENCRYPTION_KEYS = [new, old]
    response = staff_client.post("/admin/wallets/wallet/rotate-keys/")
    assert response.status_code == 302
    assert (
        "Re-encrypted 1 wallet secrets" in staff_client.get(response["Location"]).content.decode()
    )
    settings.STUDIO_ENCRYPTION_KEYS = [new]  # the old key can go now
    wallet.refresh_from_db()
    assert crypto.decrypt(wallet.secret_encrypted) == secret
    entry = AuditEntry.objects.get(action=AuditEntry.Action.KEYS_ROTATE)
    assert entry.actor == admin_user and entry.after == {"wallets": 1}


def test_rotation_with_a_missing_key_changes_nothing(staff_client, settings):
    wallet = keys.create_evm_wallet("team", make_default=True)
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key was dropped
    response = staff_client.post("/admin/wallets/wallet/rotate-keys/")
    assert "Nothing was re-encrypted" in staff_client.get(response["Location"]).content.decode()
    assert Wallet.objects.get(pk=wallet.pk).secret_encrypted == wallet.secret_encrypted


def test_wallets_cannot_be_deleted(staff_client, wallet):
    assert staff_client.get(f"/admin/wallets/wallet/{wallet.pk}/delete/").status_code == 403
