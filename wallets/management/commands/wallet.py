"""python manage.py wallet create|import|apikey|list|policy|rotate-keys"""

from __future__ import annotations

import getpass
import sys
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from venice.payments import MAX_TOP_UP_USD, MIN_TOP_UP_USD
from wallets import audit, keys
from wallets.models import AuditEntry, Wallet

Action = AuditEntry.Action


def _read_secret(prompt: str) -> str:
    # Never from argv: it would land in shell history and `ps` output.
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def _usd(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{value!r} is not an amount in USD") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_TOP_UP_USD:
        raise CommandError(f"{value!r} must be between 0 and {MAX_TOP_UP_USD} USD")
    return amount


class Command(BaseCommand):
    help = "Create, import and list the wallets that pay Venice."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser(
            "create", help="a new EVM wallet (fund its address with USDC on Base)"
        )
        create.add_argument("name")
        create.add_argument("--default", action="store_true", help="pay for members' jobs")
        imp = sub.add_parser("import", help="an existing EVM key, read from standard input")
        imp.add_argument("name")
        imp.add_argument("--default", action="store_true")
        apikey = sub.add_parser("apikey", help="a Venice API key, read from standard input")
        apikey.add_argument("name")
        apikey.add_argument("--default", action="store_true")
        sub.add_parser("list")
        policy = sub.add_parser("policy", help="set the top-up policy")
        policy.add_argument("name")
        policy.add_argument(
            "--amount", type=_usd, help=f"USD per top-up (at least {MIN_TOP_UP_USD})"
        )
        policy.add_argument("--per-day", type=_usd, help="most USD topped up in a day")
        policy.add_argument("--below", type=_usd, help="top up when credit falls below this")
        sub.add_parser("rotate-keys", help="re-encrypt all secrets under the first key")

    def handle(self, *args, action, **options):
        try:
            getattr(self, "do_" + action.replace("-", "_"))(**options)
        except keys.WalletInputError as exc:
            raise CommandError(str(exc)) from exc

    def do_create(self, name, default, **_):
        wallet = keys.create_evm_wallet(name, make_default=default)
        audit.record(None, Action.WALLET_CREATE, wallet, note="manage.py wallet create")
        self.stdout.write(f"Created wallet {wallet.name}: {wallet.address}")

    def do_import(self, name, default, **_):
        wallet = keys.import_evm_wallet(name, _read_secret("Private key: "), make_default=default)
        audit.record(None, Action.WALLET_IMPORT, wallet, note="manage.py wallet import")
        self.stdout.write(f"Imported wallet {wallet.name}: {wallet.address}")

    def do_apikey(self, name, default, **_):
        wallet = keys.add_api_key_wallet(
            name, _read_secret("Venice API key: "), make_default=default
        )
        audit.record(None, Action.WALLET_API_KEY, wallet, note="manage.py wallet apikey")
        self.stdout.write(f"Added API-key wallet {wallet.name}")

    def do_list(self, **_):
        for w in Wallet.objects.order_by("name"):
            credit = "?" if w.credit_usd is None else f"{w.credit_usd:.2f}"
            self.stdout.write(
                f"{'*' if w.is_default else ' '} {w.name:20} {w.display_address:42} "
                f"credit ${credit}  "
                f"top up ${w.topup_amount_usd} below ${w.topup_below_usd}, "
                f"at most ${w.max_topup_per_day_usd}/day"
            )

    def do_policy(self, name, amount, per_day, below, **_):
        wallet = Wallet.objects.filter(name=name).first()
        if wallet is None:
            raise CommandError(f"No wallet named {name!r}")
        if amount is not None and amount < MIN_TOP_UP_USD:
            raise CommandError(f"Venice's smallest top-up is {MIN_TOP_UP_USD} USD")
        if (per_day if per_day is not None else wallet.max_topup_per_day_usd) < (
            amount if amount is not None else wallet.topup_amount_usd
        ):
            raise CommandError("The daily maximum must be at least one top-up's amount.")
        fields = {
            "topup_amount_usd": amount,
            "max_topup_per_day_usd": per_day,
            "topup_below_usd": below,
        }
        before = {field: str(getattr(wallet, field)) for field in fields}
        for field, value in fields.items():
            if value is not None:
                setattr(wallet, field, value)
        wallet.save()
        after = {field: str(getattr(wallet, field)) for field in fields}
        audit.record(
            None,
            Action.POLICY_CHANGE,
            wallet,
            before=before,
            after=after,
            note="manage.py wallet policy",
        )
        self.stdout.write(
            f"Policy of {name}: top up ${wallet.topup_amount_usd} below "
            f"${wallet.topup_below_usd}, at most ${wallet.max_topup_per_day_usd}/day"
        )

    def do_rotate_keys(self, **_):
        count = keys.rotate_encryption()
        audit.record(
            None, Action.KEYS_ROTATE, note=f"manage.py wallet rotate-keys: {count} secrets"
        )
        self.stdout.write(f"Re-encrypted {count} wallet secrets")
