"""python manage.py reconcile [--wallet NAME]

Runs the wallet sync and the reconciliation now, as the worker does on its schedule, and prints
one JSON line. Exits 0 when everything ran, or when only the chain RPC was down (Venice's side
all ran; the receipts stay unchecked and say so); 1 when Venice's side could not be read.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from review import reconcile
from review.models import Difference
from wallets import sync
from wallets.models import TopUp, Wallet


class Command(BaseCommand):
    help = "Sync and reconcile the x402 wallets now (or one of them) and print what was found."

    def add_arguments(self, parser):
        parser.add_argument("--wallet", help="only this wallet (default: every wallet)")

    def handle(self, *args, wallet=None, **options):
        wallets = Wallet.objects.order_by("pk")
        if wallet is not None:
            wallets = wallets.filter(name=wallet)
            if not wallets.exists():
                raise CommandError(f"No wallet named {wallet!r}")
        wallets = list(wallets)
        synced_failures: dict[str, dict[str, str]] = {}
        for target in wallets:
            report = sync.sync_wallet(target.pk)
            if report.failed:
                synced_failures[target.name] = report.failed
        try:
            run = reconcile.run(wallets=wallets, check_summary=wallet is None)
        except reconcile.ReconcileBusy as exc:
            raise CommandError(str(exc)) from exc

        venice_down = run.venice_failed or any(
            set(failed) - sync.CHAIN_STEPS for failed in synced_failures.values()
        )
        chain_down = run.chain_down or any(
            set(failed) & sync.CHAIN_STEPS for failed in synced_failures.values()
        )
        credited = TopUp.objects.filter(wallet__in=wallets, status=TopUp.Status.CREDITED)
        open_differences = Difference.objects.filter(
            resolved_at__isnull=True, cleared_at__isnull=True
        )
        if wallet is not None:
            open_differences = open_differences.filter(wallet__in=wallets)
        summary = {
            "run": run.pk,
            "wallets": run.wallets,
            "ledger_rows_read": run.ledger_rows_read,
            "open_differences": open_differences.count(),
            "new_differences": run.new,
            "receipts_verified": credited.filter(receipt=TopUp.Receipt.VERIFIED).count(),
            "receipts_unchecked": credited.filter(receipt=TopUp.Receipt.UNCHECKED).count(),
            "chain_rpc": "down" if chain_down else "ok",
            "venice": "failed" if venice_down else "ok",
        }
        if chain_down and not venice_down:
            summary["note"] = (
                "The chain RPC could not be read: Venice's ledger was synced and reconciled; "
                "receipts stay unchecked until a later run can read the chain."
            )
        if run.errors:
            summary["problems"] = run.errors.splitlines()
        self.stdout.write(json.dumps(summary))
        if venice_down:
            raise CommandError("Venice's side could not be read in full; see problems above.")
