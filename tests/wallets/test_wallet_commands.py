import io
import sys

import pytest
from django.core.management import CommandError, call_command
from eth_account import Account

from wallets import crypto
from wallets.models import Wallet


def run(*args, stdin: str | None = None, monkeypatch=None) -> str:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("wallet", *args, stdout=out)
    return out.getvalue()


def test_create_prints_only_the_address(db):
    out = run("create", "team", "--default")
    wallet = Wallet.objects.get(name="team")
    assert wallet.address in out and wallet.is_default
    key = crypto.decrypt(wallet.secret_encrypted)
    assert key[-20:] not in out
    assert key[-20:] not in wallet.secret_encrypted


def test_import_reads_the_key_from_stdin(db, monkeypatch):
    account = Account.create()
    out = run("import", "ops", stdin=account.key.hex() + "\n", monkeypatch=monkeypatch)
    wallet = Wallet.objects.get(name="ops")
    assert wallet.address == account.address and account.address in out
    assert crypto.decrypt(wallet.secret_encrypted).removeprefix(
        "0x"
    ) == account.key.hex().removeprefix("0x")


@pytest.mark.parametrize(
    "key, message",
    [("not-a-key", "64 hexadecimal"), ("0x" + "0" * 64, "not a valid"), ("", "64 hexadecimal")],
)
def test_a_bad_key_is_refused_and_nothing_is_written(db, monkeypatch, key, message):
    with pytest.raises(CommandError, match=message):
        run("import", "ops", stdin=key + "\n", monkeypatch=monkeypatch)
    assert not Wallet.objects.exists()


def test_the_same_key_cannot_be_imported_twice(db, monkeypatch):
    key = Account.create().key.hex()
    run("import", "one", stdin=key + "\n", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="already in Studio"):
        run("import", "two", stdin=key + "\n", monkeypatch=monkeypatch)


def test_apikey_and_list(db, monkeypatch):
    run("apikey", "venice-account", stdin="vn-abcdefgh12345\n", monkeypatch=monkeypatch)
    run("create", "team")
    out = run("list")
    assert "venice-account" in out and "API key" in out
    assert "vn-abcdefgh12345" not in out


def test_policy_rejects_a_top_up_below_venice_minimum(db):
    run("create", "team")
    with pytest.raises(CommandError, match="5 USD"):
        run("policy", "team", "--amount", "2")
    run("policy", "team", "--amount", "20", "--per-day", "100", "--below", "3")
    wallet = Wallet.objects.get(name="team")
    assert (wallet.topup_amount_usd, wallet.max_topup_per_day_usd, wallet.topup_below_usd) == (
        20,
        100,
        3,
    )


@pytest.mark.parametrize("name", ["", "has space", "x" * 51, "semi;colon"])
def test_bad_names_are_refused(db, name):
    with pytest.raises(CommandError, match="wallet name"):
        run("create", name)
    assert not Wallet.objects.exists()


def test_command_line_changes_are_audited(db, monkeypatch):
    from wallets.models import AuditEntry

    run("create", "team")
    run("apikey", "account", stdin="vn-abcdefgh12345\n", monkeypatch=monkeypatch)
    run("policy", "team", "--per-day", "80")
    run("rotate-keys")
    actions = list(AuditEntry.objects.order_by("at", "pk").values_list("action", flat=True))
    assert actions == ["wallet_create", "wallet_api_key", "policy_change", "keys_rotate"]
    change = AuditEntry.objects.get(action="policy_change")
    assert change.before["max_topup_per_day_usd"] != change.after["max_topup_per_day_usd"]
    assert not any("vn-abcdefgh12345" in str(e.__dict__) for e in AuditEntry.objects.all())
