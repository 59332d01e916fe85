"""What each kind of rule finds worth an alert right now: plain reads, nothing written.

Each Finding names its subject, the period in which it counts once (a month for budgets, a UTC
day for credit and runway, so a low balance reminds once a day; the silence that began at the
last heartbeat; blank for an event, which happens once) and the threshold it passed. Events are
looked at only from the rule's creation on, so a new rule does not report last year's refusals.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from ops import record
from review.models import ReconcileRun
from wallets import budgets
from wallets.models import Budget, BudgetRequest, TopUp, Wallet
from wallets.money import format_usd
from wallets.runway import runway

from .models import Rule

Kind = Rule.Kind
# An event older than this is not news, even to a rule made before it.
EVENTS_SINCE = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Finding:
    subject: str
    period: str
    threshold: str
    title: str
    body: str
    # Within one subject, the higher level: only the highest newly passed level is sent.
    level: int = 0


def findings(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    yield from FIND[rule.kind](rule, now)


def _budgets(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    month = budgets.month_of(now)
    rows = Budget.objects.filter(month=month, limit_usd__gt=0).select_related("user")
    if rule.kind == Kind.TEAM_BUDGET:
        rows = rows.filter(user__isnull=True)
    elif rule.member_id:
        rows = rows.filter(user_id=rule.member_id)
    else:
        rows = rows.filter(user__isnull=False)
    for budget in rows:
        used = budget.used_usd / budget.limit_usd * 100
        whose = f"{budget.user.get_username()}'s" if budget.user_id else "The team's"
        subject = f"member:{budget.user_id}" if budget.user_id else "team"
        for percent in rule.thresholds():
            if used >= percent:
                yield Finding(
                    subject,
                    f"{month:%Y-%m}",
                    str(percent),
                    f"{whose} budget for {month:%B %Y} passed {percent}% ({used:.0f}% used)",
                    f"{whose} budget for {month:%B %Y} has passed {percent}%: "
                    f"{format_usd(budget.used_usd)} of {format_usd(budget.limit_usd)} used "
                    f"(spent and reserved). It resets on the 1st (UTC).",
                    level=percent,
                )


def _wallets(rule: Rule):
    wallets = Wallet.objects.order_by("pk")
    return wallets.filter(pk=rule.wallet_id) if rule.wallet_id else wallets


def _venice_credit(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    below = rule.limit_or_default()
    for wallet in _wallets(rule).filter(credit_usd__lt=below):
        yield Finding(
            f"wallet:{wallet.pk}",
            f"{now:%Y-%m-%d}",
            str(below),
            f"Wallet {wallet.name}: Venice credit {format_usd(wallet.credit_usd)}",
            f"Wallet {wallet.name} holds {format_usd(wallet.credit_usd)} of Venice credit, below "
            f"{format_usd(below)}{_checked(wallet.credit_checked_at)}.",
        )


def _checked(at: datetime.datetime | None) -> str:
    return f" (checked {at:%Y-%m-%d %H:%M} UTC)" if at else ""


def _usdc_runway(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    days = rule.limit_or_default()
    for wallet in _wallets(rule).filter(kind=Wallet.Kind.EVM):
        left = runway(wallet, now)
        if left.usdc_days is not None and Decimal(str(left.usdc_days)) < days:
            yield Finding(
                f"wallet:{wallet.pk}",
                f"{now:%Y-%m-%d}",
                str(days),
                f"Wallet {wallet.name}: on-chain USDC lasts {left.usdc_days:.1f} days",
                f"Wallet {wallet.name}'s USDC on chain ({format_usd(wallet.usdc_balance)}) lasts "
                f"about {left.usdc_days:.1f} days, below {days} days. {left.words}",
            )


def _since(rule: Rule, now: datetime.datetime) -> datetime.datetime:
    return max(rule.created_at, now - EVENTS_SINCE)


def _topups_refused(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    refused = TopUp.objects.filter(status=TopUp.Status.FAILED, settled_at__gte=_since(rule, now))
    if rule.wallet_id:
        refused = refused.filter(wallet_id=rule.wallet_id)
    for topup in refused.select_related("wallet").order_by("pk")[:20]:
        yield Finding(
            f"topup:{topup.pk}",
            "",
            "refused",
            f"Top-up {topup.pk} of {format_usd(topup.amount_usd)} refused "
            f"(wallet {topup.wallet.name})",
            topup.outcome,
        )


def _topups_unsettled(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    minutes = rule.limit_or_default()
    open_since = now - datetime.timedelta(minutes=float(minutes))
    waiting = TopUp.objects.filter(
        status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT],
        created_at__lte=open_since,
        created_at__gte=now - EVENTS_SINCE - datetime.timedelta(minutes=float(minutes)),
    )
    if rule.wallet_id:
        waiting = waiting.filter(wallet_id=rule.wallet_id)
    for topup in waiting.select_related("wallet").order_by("pk")[:20]:
        yield Finding(
            f"topup:{topup.pk}",
            "",
            "unsettled",
            f"Top-up {topup.pk} of {format_usd(topup.amount_usd)} unsettled for over "
            f"{minutes:.0f} minutes (wallet {topup.wallet.name})",
            topup.outcome,
        )


def _differences(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    # One alert per run that found new ones: a thousand differences are one message, not a storm.
    runs = ReconcileRun.objects.filter(
        new__gt=0, finished_at__isnull=False, started_at__gte=_since(rule, now)
    )
    for run in runs.order_by("pk")[:20]:
        yield Finding(
            f"run:{run.pk}",
            "",
            "new",
            f"Reconciliation found {run.new} new difference{'' if run.new == 1 else 's'}",
            f"Reconciliation run {run.pk} ({run.finished_at:%Y-%m-%d %H:%M} UTC) found {run.new} "
            f"difference(s) between Studio, Venice and the chain not seen before. Review them in "
            f"the admin, under Spend review → Differences.",
        )


def _worker_silent(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    minutes = rule.limit_or_default()
    silent = record.age()
    if silent is None or silent < datetime.timedelta(minutes=float(minutes)):
        return
    last = now - silent
    yield Finding(
        "worker",
        # One alert per silence: the next one needs a beat in between.
        f"{last:%Y-%m-%dT%H:%M:%S}",
        str(minutes),
        f"The worker has been silent for {silent.total_seconds() / 60:.0f} minutes",
        f"No worker heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC: jobs are not being submitted "
        f"or polled, and wallets are not synced. Check the qcluster processes.",
    )


def _budget_requests(rule: Rule, now: datetime.datetime) -> Iterator[Finding]:
    waiting = BudgetRequest.objects.filter(
        Q(status=BudgetRequest.Status.PENDING), created_at__gte=_since(rule, now)
    )
    for request in waiting.select_related("user").order_by("pk")[:20]:
        who = request.user.get_username()
        yield Finding(
            f"budget-request:{request.pk}",
            "",
            "filed",
            f"Budget request: {who} asks for {format_usd(request.amount_usd)} more",
            f"{who} asks for {format_usd(request.amount_usd)} more budget for "
            f"{request.month:%B %Y}.\n\nReason: {request.reason}\n\n"
            f"Answer it in Studio's admin, under Budget requests (request {request.pk}).",
        )


FIND = {
    Kind.MEMBER_BUDGET: _budgets,
    Kind.TEAM_BUDGET: _budgets,
    Kind.VENICE_CREDIT: _venice_credit,
    Kind.USDC_RUNWAY: _usdc_runway,
    Kind.TOPUP_REFUSED: _topups_refused,
    Kind.TOPUP_UNSETTLED: _topups_unsettled,
    Kind.DIFFERENCE: _differences,
    Kind.WORKER_SILENT: _worker_silent,
    Kind.BUDGET_REQUEST: _budget_requests,
}
