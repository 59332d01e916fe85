"""Evaluating the rules, recording each alert once, and delivering it through its channels.

Insert first, then deliver: an alert and its deliveries are written in one transaction, under
the unique constraint on (rule, subject, period, threshold). A second evaluation, in another
worker cluster or after a restart, fails that insert and sends nothing. Deliveries go out as
django-q tasks once the transaction commits; a failed one is retried with backoff by the
every-minute evaluation, and a worker that dies mid-send leaves a claim that runs out.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from . import channels, rules
from .models import Alert, Channel, Delivery, Rule

log = logging.getLogger(__name__)
Status = Delivery.Status
# The waits after each failed attempt; after the last, the delivery is given up (and says so).
BACKOFF = [datetime.timedelta(minutes=m) for m in (1, 2, 5, 15, 60)]
# How long a claimed delivery is another worker's: longer than any send can take.
CLAIM_FOR = datetime.timedelta(minutes=5)
# A new delivery whose task has not claimed it by then is queued again.
LOST_AFTER = datetime.timedelta(minutes=2)
DELIVER_TASK = "alerts.tasks.deliver"
# The channel name a delivery to the member a budget alert is about is recorded under.
MEMBER = "the member"


@dataclass(frozen=True)
class Evaluated:
    rules: int
    new: int
    retried: int


def evaluate(*, kinds: list[str] | None = None, now: datetime.datetime | None = None) -> Evaluated:
    """Every enabled rule (or those of `kinds`): record what is new and queue its deliveries;
    then queue the failed deliveries whose wait is over."""
    now = now or timezone.now()
    wanted = Rule.objects.filter(enabled=True).prefetch_related("channels").order_by("pk")
    if kinds:
        wanted = wanted.filter(kind__in=kinds)
    new = 0
    for rule in wanted:
        try:
            new += record(rule, list(rules.findings(rule, now)))
        except Exception:  # one broken rule must not silence the others
            log.exception("alert rule %s could not be evaluated", rule.pk)
    return Evaluated(len(wanted), new, retry_due(now))


def record(rule: Rule, found: list[rules.Finding]) -> int:
    """Insert each finding's alert unless it exists; deliver only the highest level newly passed
    for a subject (a budget jumping from 40 % to 85 % sends 80 %, and records 50 % as passed)."""
    by_subject: dict[tuple[str, str], list[rules.Finding]] = {}
    for finding in found:
        by_subject.setdefault((finding.subject, finding.period), []).append(finding)
    targets = [channel for channel in rule.channels.all() if channel.enabled]
    new = 0
    for group in by_subject.values():
        group.sort(key=lambda finding: finding.level, reverse=True)
        with transaction.atomic():
            louder: Alert | None = None
            for finding in group:
                alert = _insert(rule, finding)
                if alert is None:
                    louder = louder or Alert(threshold=finding.threshold)  # sent already
                    continue
                new += 1
                if louder is not None:
                    alert.note = f"Not sent: the higher level {louder.threshold} is recorded."
                    alert.save(update_fields=["note"])
                    continue
                louder = alert
                _queue(alert, targets, _member_address(rule, finding))
    return new


def _member_address(rule: Rule, finding: rules.Finding) -> str:
    """The address of the member a budget alert is about, when the rule tells them."""
    if not rule.tell_member or not finding.subject.startswith("member:"):
        return ""
    user_id = int(finding.subject.removeprefix("member:"))
    found = get_user_model().objects.filter(pk=user_id).values_list("email", flat=True).first()
    return found or ""


def _insert(rule: Rule, finding: rules.Finding) -> Alert | None:
    try:
        with transaction.atomic():
            return Alert.objects.create(
                rule=rule,
                rule_name=rule.name,
                subject=finding.subject,
                period=finding.period,
                threshold=finding.threshold,
                title=finding.title[:200],
                body=finding.body,
            )
    except IntegrityError:  # one_alert_per_threshold: sent already, or being sent by another
        return None


def _queue(alert: Alert, targets: list[Channel], address: str = "") -> None:
    now = timezone.now()
    ids = [
        Delivery.objects.create(
            alert=alert, channel=channel, channel_name=channel.name, next_try_at=now
        ).pk
        for channel in targets
    ]
    if address:
        ids.append(
            Delivery.objects.create(
                alert=alert, channel_name=MEMBER, address=address, next_try_at=now
            ).pk
        )
    transaction.on_commit(lambda: [_enqueue(pk) for pk in ids])


def _enqueue(delivery_id: int) -> None:
    try:
        async_task(DELIVER_TASK, delivery_id)
    except Exception:  # the broker is down: the minute evaluation picks it up
        log.exception("could not queue alert delivery %s", delivery_id)


def retry_due(now: datetime.datetime) -> int:
    """Queue the failed deliveries whose wait is over, and the new ones whose task was lost (a
    broker down, a worker killed mid-send) a while ago: a new one's own task runs first."""
    due = list(
        Delivery.objects.filter(
            Q(status=Status.RETRYING, next_try_at__lte=now)
            | Q(status=Status.PENDING, next_try_at__lte=now - LOST_AFTER)
        ).values_list("pk", flat=True)[:200]
    )
    for pk in due:
        _enqueue(pk)
    return len(due)


def deliver(delivery_id: int) -> Delivery | None:
    """Send one delivery, if it is due and no one else holds it: a conditional UPDATE claims it
    (pushing its next try past any send), so a duplicate task or the retry sweep sends nothing."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[Status.PENDING, Status.RETRYING], next_try_at__lte=now
    ).update(attempts=F("attempts") + 1, next_try_at=now + CLAIM_FOR)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("alert", "channel").get(pk=delivery_id)
    alert, channel = delivery.alert, delivery.channel
    if not delivery.address and (channel is None or not channel.enabled):
        outcome = channels.Outcome(False, delivery.recipients, "The channel was removed.")
        final = True
    else:
        if delivery.address:  # the member the alert is about, not a channel
            outcome = channels.email([delivery.address], alert.title, alert.body)
        else:
            outcome = channels.send(channel, alert.title, alert.body)
        final = outcome.delivered or delivery.attempts > len(BACKOFF)
    return _settle(delivery, outcome, final=final)


def _settle(delivery: Delivery, outcome: channels.Outcome, *, final: bool) -> Delivery:
    now = timezone.now()
    delivery.recipients = outcome.recipients or delivery.recipients
    delivery.error = outcome.error
    if outcome.delivered:
        delivery.status, delivery.delivered_at = Status.DELIVERED, now
    elif final:
        delivery.status = Status.FAILED
    else:
        delivery.status = Status.RETRYING
        delivery.next_try_at = now + BACKOFF[delivery.attempts - 1]
        log.warning(
            "alert delivery %s through %s failed (attempt %s): %s",
            delivery.pk,
            delivery.channel_name,
            delivery.attempts,
            outcome.error,
        )
    delivery.save(update_fields=["recipients", "error", "status", "delivered_at", "next_try_at"])
    return delivery


def send_test(user=None) -> list[Delivery]:
    """A test message through every enabled channel, now, each recorded like an alert: what an
    admin runs to see that the channels work (the admin's button, `manage.py alerts test`)."""
    now = timezone.now()
    who = f" by {user.get_username()}" if user is not None else ""
    alert = Alert.objects.create(
        rule=None,
        rule_name="Test",
        subject="test",
        period=f"{now:%Y-%m-%d %H:%M:%S.%f}",
        title="Test alert from Studio",
        body=f"A test of Studio's alert channels, sent{who} at {now:%Y-%m-%d %H:%M:%S} UTC. "
        f"If you read this, the channel works.",
    )
    sent = []
    for channel in Channel.objects.filter(enabled=True).order_by("name"):
        delivery = Delivery.objects.create(
            alert=alert, channel=channel, channel_name=channel.name, next_try_at=now, attempts=1
        )
        outcome = channels.send(channel, alert.title, alert.body)
        sent.append(_settle(delivery, outcome, final=True))
    return sent
