"""Alert channels delivering for real on loopback: email to an aiosmtpd server, a JSON webhook
to an HTTP receiver; a failing channel retried with backoff and every attempt recorded; the
admin's test button and `manage.py alerts test` saying per channel whether it arrived.

Slack and Discord post to their own hosts, which apprise does not let a test move to loopback:
their URLs are checked here to build apprise's Slack and Discord plugins, and real delivery is
tested through the JSON channel, which goes through the same apprise path."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from alerts import channels, notify
from alerts.models import Alert, Channel, Delivery, Rule

pytestmark = pytest.mark.django_db
SLACK = "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
DISCORD = "https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"


def test_email_reaches_a_real_smtp_server(smtp):
    Channel.objects.create(
        name="ops mail", kind=Channel.Kind.EMAIL, target="ops@example.com, oncall@example.com"
    )
    [delivery] = notify.send_test()
    assert (delivery.status, delivery.recipients) == (
        Delivery.Status.DELIVERED,
        "ops@example.com, oncall@example.com",
    )
    [envelope] = smtp.messages
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert b"Subject: [Studio] Test alert from Studio" in envelope.content


def test_an_email_channel_without_addresses_falls_back_to_admins(smtp, settings):
    settings.ADMINS = [("", "admin@example.com")]
    Channel.objects.create(name="admins", kind=Channel.Kind.EMAIL)
    [delivery] = notify.send_test()
    assert delivery.status == Delivery.Status.DELIVERED
    assert smtp.messages[0].rcpt_tos == ["admin@example.com"]


def test_json_webhook_reaches_the_local_receiver(json_channel, receiver):
    [delivery] = notify.send_test()
    assert delivery.status == Delivery.Status.DELIVERED
    [(path, body)] = receiver.posts
    assert path == "/"
    assert body["title"] == "Test alert from Studio"
    assert "the channel works" in body["message"]


def test_slack_and_discord_urls_build_apprise_plugins():
    slack = Channel(name="s", kind=Channel.Kind.SLACK, target=SLACK)
    discord = Channel(name="d", kind=Channel.Kind.DISCORD, target=DISCORD)
    assert channels.webhook(slack).service_name == "Slack"
    assert channels.webhook(discord).service_name == "Discord"
    slack.full_clean()
    discord.full_clean()
    # Each recorded without its secret token.
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in channels.webhook(slack).url(privacy=True)
    assert channels.apprise_url(Channel(kind="json", target="https://h.example/x")) == (
        "jsons://h.example/x"
    )


@pytest.mark.parametrize(
    ("kind", "target", "said"),
    [
        (Channel.Kind.SLACK, DISCORD, "Discord URL, not a Slack webhook one"),
        (Channel.Kind.DISCORD, "https://example.com/", "Not a Discord webhook URL"),
        (Channel.Kind.JSON, "", "Give the webhook's URL"),
        (Channel.Kind.EMAIL, "ops@example.com, not an address", "not an email address"),
    ],
)
def test_a_wrong_target_is_refused_with_a_reason(kind, target, said):
    with pytest.raises(ValidationError, match=said):
        Channel(name="x", kind=kind, target=target).full_clean()


def test_a_failing_channel_is_retried_with_backoff_and_recorded(
    json_channel, receiver, tasks, django_capture_on_commit_callbacks
):
    receiver.status = 500
    rule = Rule.objects.create(name="Worker", kind=Rule.Kind.WORKER_SILENT, limit=1)
    rule.channels.add(json_channel)
    from ops.models import Heartbeat

    Heartbeat.objects.create(name="worker", at=timezone.now() - datetime.timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=True):
        assert notify.evaluate().new == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.RETRYING, 1)
    assert "500" in delivery.error
    wait = delivery.next_try_at - timezone.now()
    assert datetime.timedelta(seconds=50) < wait <= notify.BACKOFF[0]
    # Not due yet: neither the sweep nor a stray task sends it.
    assert notify.retry_due(timezone.now()) == 0
    assert notify.deliver(delivery.pk) is None

    waits = []
    for _ in notify.BACKOFF[1:]:
        later = delivery.next_try_at + datetime.timedelta(seconds=1)
        Delivery.objects.filter(pk=delivery.pk).update(next_try_at=later - datetime.timedelta(1))
        assert notify.retry_due(timezone.now()) == 1  # the sweep queues it; `tasks` runs it
        delivery.refresh_from_db()
        waits.append(round((delivery.next_try_at - timezone.now()).total_seconds() / 60))
    assert waits == [2, 5, 15, 60]  # the backoff grows
    assert len(receiver.posts) == 5

    Delivery.objects.filter(pk=delivery.pk).update(next_try_at=timezone.now())
    notify.retry_due(timezone.now())
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 6)
    assert notify.retry_due(timezone.now() + datetime.timedelta(days=1)) == 0  # given up


def test_a_retry_that_gets_through_is_delivered(json_channel, receiver, tasks):
    receiver.status = 503
    alert = Alert.objects.create(rule_name="x", subject="s", title="Hello", body="World")
    delivery = Delivery.objects.create(
        alert=alert, channel=json_channel, channel_name="ops hook", next_try_at=timezone.now()
    )
    notify.deliver(delivery.pk)
    receiver.status = 200
    Delivery.objects.filter(pk=delivery.pk).update(next_try_at=timezone.now())
    notify.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == (
        Delivery.Status.DELIVERED,
        2,
        "",
    )
    assert delivery.delivered_at is not None


def test_the_command_reports_each_channel(json_channel, receiver, smtp):
    Channel.objects.create(name="ops mail", kind=Channel.Kind.EMAIL, target="ops@example.com")
    # Nothing listens on this port: refused at once.
    Channel.objects.create(name="dead hook", kind=Channel.Kind.JSON, target="http://127.0.0.1:9/")
    Channel.objects.create(name="off", kind=Channel.Kind.JSON, target=receiver.url, enabled=False)
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 3 channel"):
        call_command("alerts", "test", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("dead hook: NOT delivered: A Connection error occurred")
    port = receiver.server_address[1]
    assert lines[1] == f"ops hook: delivered to json://127.0.0.1:{port}/"
    assert lines[2] == "ops mail: delivered to ops@example.com"
    assert len(receiver.posts) == 1 and len(smtp.messages) == 1


def test_the_command_without_channels_says_so():
    with pytest.raises(CommandError, match="No channel is enabled"):
        call_command("alerts", "test")


def test_the_admin_button_sends_and_reports_each_channel(staff_client, json_channel, receiver):
    Channel.objects.create(name="dead hook", kind=Channel.Kind.JSON, target="http://127.0.0.1:9/")
    url = reverse("admin:alerts_channel_test")
    assert staff_client.get(url).status_code == 405
    answer = staff_client.post(url, follow=True)
    said = [(m.level_tag, str(m)) for m in answer.context["messages"]]
    assert said[0][0] == "error" and said[0][1].startswith("dead hook: not delivered:")
    port = receiver.server_address[1]
    assert said[1] == ("success", f"ops hook: delivered to json://127.0.0.1:{port}/.")
    assert len(receiver.posts) == 1
    test = Alert.objects.get(subject="test")
    assert test.deliveries.count() == 2


def test_the_button_is_refused_to_members(client, member, json_channel, receiver):
    client.force_login(member)
    answer = client.post(reverse("admin:alerts_channel_test"))
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert receiver.posts == []
