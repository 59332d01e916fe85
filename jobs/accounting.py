"""Venice's ledger applied to jobs and budgets: what each job really cost."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Case, DecimalField, F, Sum, Value, When
from django.db.models.functions import Round

from wallets import budgets
from wallets.models import LedgerEntry, Wallet

from .models import Job

Type = LedgerEntry.Type


def link_ledger(wallet: Wallet) -> set[int]:
    """Point CHARGE/REFUND rows at the job whose queue id they name; returns the jobs touched."""
    unlinked = LedgerEntry.objects.filter(
        wallet=wallet, job__isnull=True, type__in=[Type.CHARGE, Type.REFUND]
    ).exclude(request_id="")
    touched = set()
    for queue_id, job_id in Job.objects.filter(
        queue_id__in=unlinked.values("request_id")
    ).values_list("queue_id", "pk"):
        unlinked.filter(request_id=queue_id).update(job_id=job_id)
        touched.add(job_id)
    return touched


def _sum(kind: str):
    return Sum(
        Case(When(type=kind, then="amount_usd"), default=Value(Decimal("0"))),
        output_field=DecimalField(max_digits=14, decimal_places=6),
    )


def apply_ledger(wallet: Wallet, job_ids: set[int] | None = None) -> None:
    """Record each job's charges and refunds, and once it is finished, settle its budget to them.

    A job's budget is first settled to its quote when it completes (the worker cannot wait for
    the ledger); this corrects it to what Venice actually charged and refunded. Looked at: jobs
    whose rows were just linked, and every finished job whose settlement does not yet equal its
    ledger (including one charged while it ran, and one still waiting for its first row).
    """
    touched = link_ledger(wallet) | (job_ids or set())
    finished = Job.objects.filter(wallet=wallet, state__in=Job.FINISHED, queue_id__isnull=False)
    unsettled = finished.filter(charged_usd__isnull=True) | finished.exclude(
        settled_usd=Round(F("charged_usd") - F("refunded_usd"), 6)
    )
    touched |= set(unsettled.values_list("pk", flat=True))
    totals = (
        LedgerEntry.objects.filter(job_id__in=touched)
        .values("job_id")
        .annotate(charged=_sum(Type.CHARGE), refunded=_sum(Type.REFUND))
    )
    for row in totals:
        settle_to_ledger(row["job_id"], row["charged"], row["refunded"])


def settle_to_ledger(job_id: int, charged: Decimal, refunded: Decimal) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        fields = {"charged_usd": charged, "refunded_usd": refunded}
        if job.state in Job.FINISHED:
            delta = (charged - refunded) - job.settled_usd
            if delta:
                fields["settled_usd"] = job.settled_usd + delta
                budgets.adjust_spent(job.user_id, job.budget_month, delta)
        Job.objects.filter(pk=job_id).update(**fields)
