"""Creating and importing wallets. A private key is encrypted before it touches the database."""

from __future__ import annotations

import re

from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from eth_account import Account

from . import crypto
from .models import Wallet

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class WalletInputError(ValueError):
    """Refused input, with a message a person can act on."""


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", name or ""):
        raise WalletInputError("A wallet name is 1 to 50 letters, digits, '-' or '_'.")
    if Wallet.objects.filter(name=name).exists():
        raise WalletInputError(f"A wallet named {name!r} already exists.")


def _save(wallet: Wallet, make_default: bool) -> Wallet:
    with transaction.atomic():
        if make_default or not Wallet.objects.filter(is_default=True).exists():
            Wallet.objects.filter(is_default=True).update(is_default=False)
            wallet.is_default = True
        wallet.save()
    return wallet


@sensitive_variables("account")
def _save_evm(name: str, account, *, created_by, make_default: bool) -> Wallet:
    wallet = Wallet(
        name=name,
        kind=Wallet.Kind.EVM,
        address=account.address,
        secret_encrypted=crypto.encrypt(account.key.hex()),
        created_by=created_by,
    )
    return _save(wallet, make_default)


def create_evm_wallet(name: str, *, created_by=None, make_default: bool = False) -> Wallet:
    _check_name(name)
    account = Account.create()
    return _save_evm(name, account, created_by=created_by, make_default=make_default)


@sensitive_variables("private_key", "account")
def import_evm_wallet(
    name: str, private_key: str, *, created_by=None, make_default: bool = False
) -> Wallet:
    _check_name(name)
    private_key = (private_key or "").strip()
    if not _HEX_KEY.match(private_key):
        raise WalletInputError("A private key is 64 hexadecimal characters, optionally after 0x.")
    try:
        account = Account.from_key(private_key)
    except ValueError:
        raise WalletInputError("That is not a valid secp256k1 private key.") from None
    if Wallet.objects.filter(kind=Wallet.Kind.EVM, address=account.address).exists():
        raise WalletInputError(f"The wallet {account.address} is already in Studio.")
    return _save_evm(name, account, created_by=created_by, make_default=make_default)


@sensitive_variables("api_key")
def add_api_key_wallet(
    name: str, api_key: str, *, created_by=None, make_default: bool = False
) -> Wallet:
    _check_name(name)
    api_key = (api_key or "").strip()
    if not re.fullmatch(r"[\x21-\x7e]{8,200}", api_key):
        raise WalletInputError("A Venice API key is 8 to 200 printable characters without spaces.")
    wallet = Wallet(
        name=name,
        kind=Wallet.Kind.API_KEY,
        secret_encrypted=crypto.encrypt(api_key),
        created_by=created_by,
    )
    return _save(wallet, make_default)


def rotate_encryption() -> int:
    """Re-encrypt every wallet secret under the first configured key; returns how many."""
    count = 0
    with transaction.atomic():
        for wallet in Wallet.objects.select_for_update().only("pk", "secret_encrypted"):
            Wallet.objects.filter(pk=wallet.pk).update(
                secret_encrypted=crypto.rotate(wallet.secret_encrypted)
            )
            count += 1
    return count
