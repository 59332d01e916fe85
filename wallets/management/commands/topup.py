"""python manage.py topup --wallet NAME --usd N"""

import json
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from venice import errors
from venice.payments import MAX_TOP_UP_USD, MIN_TOP_UP_USD
from wallets import audit, payments
from wallets.models import AuditEntry, Wallet


class Command(BaseCommand):
    help = "Top a wallet's Venice credit up by hand, within its policy's caps."

    def add_arguments(self, parser):
        parser.add_argument("--wallet", required=True)
        parser.add_argument("--usd", required=True)

    def handle(self, *args, wallet, usd, **options):
        try:
            amount = Decimal(usd)
        except InvalidOperation:
            raise CommandError(f"{usd!r} is not an amount in USD") from None
        if not amount.is_finite() or not MIN_TOP_UP_USD <= amount <= MAX_TOP_UP_USD:
            raise CommandError(f"A top-up is between {MIN_TOP_UP_USD} and {MAX_TOP_UP_USD:,} USD")
        target = Wallet.objects.filter(name=wallet).first()
        if target is None:
            raise CommandError(f"No wallet named {wallet!r}")
        try:
            topup = payments.manual_top_up(target, amount)
        except payments.MANUAL_TOP_UP_REFUSED as exc:
            raise CommandError(str(exc)) from exc
        audit.record(
            None,
            AuditEntry.Action.MANUAL_TOPUP,
            topup,
            after={"usd": str(amount)},
            note="manage.py topup",
        )
        try:
            payments.verify_receipt(topup)
        except errors.VeniceError as exc:
            # The chain is another party: its outage does not undo a credited payment. The
            # receipt stays unchecked and the next wallet sync checks it.
            self.stderr.write(f"The receipt is unchecked for now: {exc.message}")
        self.stdout.write(
            json.dumps(
                {
                    "topup": topup.pk,
                    "status": topup.status,
                    "usd": str(topup.amount_usd),
                    "credited": str(topup.amount_credited_usd or ""),
                    "tx": topup.tx_hash,
                    "receipt": topup.receipt,
                    "outcome": topup.outcome,
                }
            )
        )
        if topup.status != topup.Status.CREDITED:
            raise CommandError(f"Top-up {topup.pk}: {topup.outcome}")
