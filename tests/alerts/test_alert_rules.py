"""Each kind of rule: what it finds, once per period, and the events that evaluate it at once
(a top-up refused, a reconciliation's new differences, a budget request)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from alerts import notify
from alerts.models import Alert, Rule
from ops import record
from ops.models import Heartbeat
from review.models import ReconcileRun
from review.reconcile import differences_found
from wallets import keys, requests
from wallets.models import LedgerEntry, TopUp, Wallet
from wallets.signals import topup_refused

pytestmark = pytest.mark.django_db
NOW = timezone.now()


@pytest.fixture
def team_wallet(db) -> Wallet:
    wallet = keys.create_evm_wallet("team", make_default=True)
    Wallet.objects.filter(pk=wallet.pk).update(
        credit_usd=Decimal("3"), credit_checked_at=NOW, usdc_balance=Decimal("20")
    )
    wallet.refresh_from_db()
    return wallet


def rule(kind, channel, **fields) -> Rule:
    made = Rule.objects.create(name=kind, kind=kind, **fields)
    made.channels.add(channel)
    Rule.objects.filter(pk=made.pk).update(created_at=NOW - datetime.timedelta(hours=1))
    return made


def evaluate(capture, **kwargs) -> int:
    with capture(execute=True):
        return notify.evaluate(**kwargs).new


def topup(wallet: Wallet, status: str, nonce: str, **fields) -> TopUp:
    return TopUp.objects.create(
        wallet=wallet,
        status=status,
        amount_usd=Decimal("10"),
        amount_atomic="10000000",
        network="eip155:8453",
        asset="0x0",
        pay_to="0x0",
        payer=wallet.address,
        nonce=nonce,
        valid_before=NOW,
        **fields,
    )


def test_venice_credit_below_an_amount_alerts_once_a_day(
    team_wallet, json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    rule(Rule.Kind.VENICE_CREDIT, json_channel, limit=Decimal("5"))
    assert evaluate(django_capture_on_commit_callbacks) == 1
    assert evaluate(django_capture_on_commit_callbacks) == 0
    assert "holds $3.00 of Venice credit, below $5.00" in receiver.posts[0][1]["message"]
    tomorrow = NOW + datetime.timedelta(days=1)
    assert evaluate(django_capture_on_commit_callbacks, now=tomorrow) == 1  # still low: a reminder


def test_usdc_runway_below_n_days(
    team_wallet, json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    rule(Rule.Kind.USDC_RUNWAY, json_channel, limit=Decimal("7"))
    # $3.50 a day over the last 7 days: the $20 of USDC lasts under 6 days.
    LedgerEntry.objects.create(
        wallet=team_wallet, venice_id="c1", type="CHARGE", amount_usd="24.5", created_at=NOW
    )
    assert evaluate(django_capture_on_commit_callbacks) == 1
    assert receiver.posts[0][1]["title"] == "Wallet team: on-chain USDC lasts 5.7 days"
    Wallet.objects.filter(pk=team_wallet.pk).update(usdc_balance=Decimal("100"))
    assert evaluate(django_capture_on_commit_callbacks, now=NOW + datetime.timedelta(days=1)) == 0


def test_a_refused_topup_is_evaluated_at_once_through_the_signal(
    team_wallet, json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    rule(Rule.Kind.TOPUP_REFUSED, json_channel)
    refused = topup(
        team_wallet, TopUp.Status.FAILED, "0x1", settled_at=NOW, last_error_code="NO_FUNDS"
    )
    topup(team_wallet, TopUp.Status.CREDITED, "0x2", settled_at=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        topup_refused.send(sender=TopUp, topup_id=refused.pk)
    assert tasks[0] == ("alerts.tasks.evaluate", (), {"kinds": ["topup_refused"]})
    [(_, body)] = receiver.posts
    assert body["title"] == "Top-up 1 of $10.00 refused (wallet team)".replace("1", str(refused.pk))
    assert "NO_FUNDS" in body["message"]
    assert evaluate(django_capture_on_commit_callbacks) == 0


def test_a_topup_left_unsettled(
    team_wallet, json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    rule(Rule.Kind.TOPUP_UNSETTLED, json_channel, limit=Decimal("30"))
    waiting = topup(team_wallet, TopUp.Status.SENT, "0x3")
    assert evaluate(django_capture_on_commit_callbacks) == 0  # only just sent
    TopUp.objects.filter(pk=waiting.pk).update(created_at=NOW - datetime.timedelta(minutes=31))
    assert evaluate(django_capture_on_commit_callbacks) == 1
    assert "unsettled for over 30 minutes" in receiver.posts[0][1]["title"]


def test_new_differences_are_one_alert_per_run(
    json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    rule(Rule.Kind.DIFFERENCE, json_channel)
    run = ReconcileRun.objects.create(finished_at=NOW, found=40, new=37)
    ReconcileRun.objects.create(finished_at=NOW, found=3, new=0)
    with django_capture_on_commit_callbacks(execute=True):
        differences_found.send(sender=ReconcileRun, run_id=run.pk, new=37)
    [(_, body)] = receiver.posts
    assert body["title"] == "Reconciliation found 37 new differences"


def test_the_worker_silent_alerts_once_per_silence(
    json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    rule(Rule.Kind.WORKER_SILENT, json_channel, limit=Decimal("10"))
    assert evaluate(django_capture_on_commit_callbacks) == 0  # never started: nothing to miss
    Heartbeat.objects.create(name="worker", at=NOW - datetime.timedelta(minutes=9))
    assert evaluate(django_capture_on_commit_callbacks) == 0
    Heartbeat.objects.filter(name="worker").update(at=NOW - datetime.timedelta(minutes=12))
    assert evaluate(django_capture_on_commit_callbacks) == 1
    assert evaluate(django_capture_on_commit_callbacks) == 0  # still the same silence
    record.beat()
    Heartbeat.objects.filter(name="worker").update(at=timezone.now() - datetime.timedelta(hours=1))
    assert evaluate(django_capture_on_commit_callbacks) == 1  # a new silence
    assert len(receiver.posts) == 2


def test_a_new_rule_does_not_report_old_events(
    team_wallet, json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    topup(team_wallet, TopUp.Status.FAILED, "0x4", settled_at=NOW - datetime.timedelta(hours=3))
    rule(Rule.Kind.TOPUP_REFUSED, json_channel)  # made an hour ago
    assert evaluate(django_capture_on_commit_callbacks) == 0


def test_a_budget_request_goes_through_the_alert_rule_not_mail_admins(
    member, json_channel, receiver, tasks, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("", "admin@example.com")]
    rule(Rule.Kind.BUDGET_REQUEST, json_channel)
    asked = requests.ask(member, Decimal("15"), "A game jam")
    with django_capture_on_commit_callbacks(execute=True):
        requests.tell_admins(asked.pk)  # the task the request queues
    assert mail.outbox == []  # told once, through the rule's channel
    [(_, body)] = receiver.posts
    assert body["title"] == "Budget request: member asks for $15.00 more"
    assert "A game jam" in body["message"]
    assert evaluate(django_capture_on_commit_callbacks) == 0  # and not again a minute later


def test_without_a_rule_admins_are_mailed_as_before(member, settings):
    settings.ADMINS = [("", "admin@example.com")]
    asked = requests.ask(member, Decimal("15"), "A game jam")
    requests.tell_admins(asked.pk)
    [message] = mail.outbox
    assert message.subject.endswith("Budget request: member asks for $15.00 more")
    assert not Alert.objects.exists()


def test_a_disabled_rule_finds_nothing(member, json_channel, receiver, tasks, settings):
    settings.ADMINS = [("", "admin@example.com")]
    made = rule(Rule.Kind.BUDGET_REQUEST, json_channel)
    Rule.objects.filter(pk=made.pk).update(enabled=False)
    asked = requests.ask(member, Decimal("15"), "A game jam")
    requests.tell_admins(asked.pk)
    assert len(mail.outbox) == 1 and receiver.posts == []


def test_the_evaluation_is_scheduled_every_minute_on_migrate():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="studio: alerts")
    assert (schedule.func, schedule.minutes, schedule.repeats) == ("alerts.tasks.evaluate", 1, -1)


def test_the_tasks_say_what_they_did(json_channel, receiver, tasks):
    from alerts import tasks as alert_tasks

    rule(Rule.Kind.WORKER_SILENT, json_channel, limit=Decimal("1"))
    Heartbeat.objects.create(name="worker", at=NOW - datetime.timedelta(minutes=5))
    assert alert_tasks.evaluate() == "1 rule(s), 1 new alert(s), 0 delivery(ies) queued"
    delivery = Alert.objects.get().deliveries.get()
    assert alert_tasks.deliver(delivery.pk) == "ops hook: Delivered"
    assert alert_tasks.deliver(delivery.pk) == "not due, or held by another worker"


def test_a_broker_that_cannot_take_the_evaluation_does_not_fail_the_sender(
    monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """The top-up's path (a job's) goes on; the minute's evaluation finds the refusal anyway."""
    from alerts import receivers

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(receivers, "async_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        topup_refused.send(sender=TopUp, topup_id=1)
    assert "could not queue the alert evaluation for topup_refused" in caplog.text
