"""A budget alert fires once at each threshold: across evaluations, a restart, and two worker
clusters evaluating at the same moment (the unique constraint decides, not memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from alerts import notify
from alerts.models import Alert, Delivery, Rule
from tests.reliability_helpers import ROOT, database_url
from wallets import budgets
from wallets.models import Budget

MONTH = budgets.month_of(timezone.now())


def spend(user_id: int | None, amount: str) -> None:
    Budget.objects.filter(user_id=user_id, month=MONTH).update(spent_usd=Decimal(amount))


@pytest.fixture
def budget_rule(member, json_channel, settings):
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "10"
    budgets.member_budget(member.pk, MONTH)
    rule = Rule.objects.create(name="Member budgets", kind=Rule.Kind.MEMBER_BUDGET)
    rule.channels.add(json_channel)
    return rule


def evaluate(capture) -> notify.Evaluated:
    with capture(execute=True):
        return notify.evaluate()


@pytest.mark.django_db
def test_a_rule_that_tells_the_member_emails_them_their_budget_alert(
    budget_rule, member, other, receiver, smtp, tasks, django_capture_on_commit_callbacks
):
    budget_rule.tell_member = True
    budget_rule.save()
    member.email = "member@example.com"
    member.save()
    budgets.member_budget(other.pk, MONTH)  # `other` has no address: only the channel is told
    spend(member.pk, "8.5")
    spend(other.pk, "9")
    evaluate(django_capture_on_commit_callbacks)

    [envelope] = smtp.messages
    assert envelope.rcpt_tos == ["member@example.com"]
    assert b"member's budget for" in envelope.content and b"passed 80%" in envelope.content
    told = Delivery.objects.get(address="member@example.com")
    assert (told.channel_name, told.status) == (notify.MEMBER, Delivery.Status.DELIVERED)
    assert told.alert.subject == f"member:{member.pk}"
    assert Delivery.objects.filter(channel_name="ops hook").count() == 2  # both members
    assert len(receiver.posts) == 2

    budget_rule.tell_member = False  # a rule that does not tell the member: only its channels
    budget_rule.save()
    spend(member.pk, "10")
    evaluate(django_capture_on_commit_callbacks)
    assert len(smtp.messages) == 1 and len(receiver.posts) == 3


@pytest.mark.django_db
def test_each_threshold_fires_once_across_evaluations_and_a_restart(
    budget_rule, member, receiver, tasks, django_capture_on_commit_callbacks
):
    spend(member.pk, "4.99")
    assert evaluate(django_capture_on_commit_callbacks).new == 0
    assert receiver.posts == []

    for amount, percent in (("5", "50"), ("8.10", "80"), ("10", "100")):
        spend(member.pk, amount)
        assert evaluate(django_capture_on_commit_callbacks).new == 1
        # Again, and again after a "restart": nothing in memory decides, so nothing more is sent.
        assert evaluate(django_capture_on_commit_callbacks).new == 0
        assert evaluate(django_capture_on_commit_callbacks).new == 0
        assert receiver.posts[-1][1]["title"].startswith("member's budget")
        assert f"passed {percent}%" in receiver.posts[-1][1]["message"]

    assert len(receiver.posts) == 3
    alerts = Alert.objects.filter(rule=budget_rule).order_by("created_at")
    assert [(a.subject, a.period, a.threshold) for a in alerts] == [
        (f"member:{member.pk}", f"{MONTH:%Y-%m}", p) for p in ("50", "80", "100")
    ]
    told = Delivery.objects.filter(alert__rule=budget_rule)
    assert {(d.channel_name, d.status, d.attempts) for d in told} == {
        ("ops hook", Delivery.Status.DELIVERED, 1)
    }
    assert all(d.recipients.startswith("json://127.0.0.1") for d in told)


@pytest.mark.django_db
def test_a_jump_past_two_thresholds_sends_only_the_higher(
    budget_rule, member, receiver, tasks, django_capture_on_commit_callbacks
):
    spend(member.pk, "8.5")
    assert evaluate(django_capture_on_commit_callbacks).new == 2
    assert len(receiver.posts) == 1 and "passed 80%" in receiver.posts[0][1]["message"]
    skipped = Alert.objects.get(threshold="50")
    assert skipped.note.startswith("Not sent") and not skipped.deliveries.exists()


@pytest.mark.django_db
def test_the_team_budget_has_its_own_thresholds(
    member, json_channel, receiver, tasks, settings, django_capture_on_commit_callbacks
):
    settings.STUDIO_DEFAULT_TEAM_BUDGET_USD = "100"
    budgets.team_budget(MONTH)
    rule = Rule.objects.create(name="Team", kind=Rule.Kind.TEAM_BUDGET, percents="80")
    rule.channels.add(json_channel)
    spend(None, "79")
    assert evaluate(django_capture_on_commit_callbacks).new == 0
    spend(None, "81")
    assert evaluate(django_capture_on_commit_callbacks).new == 1
    title = receiver.posts[0][1]["title"]
    assert title == f"The team's budget for {MONTH:%B %Y} passed 80% (81% used)"


@pytest.mark.django_db(transaction=True)
def test_two_clusters_evaluating_at_once_send_each_alert_once(
    budget_rule, member, receiver, monkeypatch
):
    """Two threads (each its own database connection, as two clusters have) evaluate at the same
    instant, four times over: the insert that loses the race sends nothing."""
    queued: list[int] = []
    lock = threading.Lock()

    def enqueue(name, delivery_id):
        with lock:
            queued.append(delivery_id)

    monkeypatch.setattr(notify, "async_task", enqueue)
    for amount in ("5", "8", "10", "10"):
        spend(member.pk, amount)
        start = threading.Barrier(2)
        problems: list[BaseException] = []

        def cluster(start=start, problems=problems):
            try:
                start.wait(5)
                notify.evaluate()
            except BaseException as exc:  # noqa: BLE001 - reported below
                problems.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=cluster) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert problems == []

    assert sorted(Alert.objects.values_list("threshold", flat=True)) == ["100", "50", "80"]
    assert len(queued) == 3 == len(set(queued))
    for delivery_id in queued:  # the worker runs each queued delivery, twice for good measure
        notify.deliver(delivery_id)
        notify.deliver(delivery_id)
    assert len(receiver.posts) == 3


@pytest.mark.django_db(transaction=True)
def test_two_processes_evaluating_at_once_record_each_alert_once(budget_rule, member):
    """`manage.py alerts evaluate` in two processes at the same moment, as two clusters' (or a
    cluster's and a cron's) evaluations would run: one alert, one delivery, per threshold."""
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "manage.py", "alerts", "evaluate"]
    for amount in ("5", "8.5", "10"):
        spend(member.pk, amount)
        runs = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        said = sorted(run.communicate(timeout=60)[0] for run in runs)
        assert all(run.returncode == 0 for run in runs)
        assert said[0].startswith("1 rule(s) evaluated: 0 new alert(s)"), said
        assert said[1].startswith("1 rule(s) evaluated: 1 new alert(s)"), said
    assert sorted(Alert.objects.values_list("threshold", flat=True)) == ["100", "50", "80"]
    assert Delivery.objects.count() == 3
