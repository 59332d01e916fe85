"""Setting alerts up in the admin: bad input is refused with a reason, nothing half saved; the
alert record is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Alert, Channel, Rule

pytestmark = pytest.mark.django_db


def errors(response) -> str:
    assert response.status_code == 200
    return " ".join(str(e) for e in response.context["adminform"].form.errors.values())


def test_a_channel_with_a_bad_url_is_refused(staff_client):
    url = reverse("admin:alerts_channel_add")
    answer = staff_client.post(
        url, {"name": "slack", "kind": "slack", "target": "https://example.com/x", "enabled": "on"}
    )
    assert "Not a Slack webhook URL that apprise can read." in errors(answer)
    assert not Channel.objects.exists()


def test_a_json_channel_is_saved(staff_client, receiver):
    url = reverse("admin:alerts_channel_add")
    answer = staff_client.post(
        url, {"name": "hook", "kind": "json", "target": receiver.url, "enabled": "on"}
    )
    assert answer.status_code == 302
    assert Channel.objects.get().target == receiver.url


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"kind": "member_budget", "percents": "50,lots"}, "Whole numbers, comma-separated."),
        ({"kind": "team_budget", "percents": "0"}, "Give percentages from 1 to 1000."),
        ({"kind": "venice_credit", "limit": "-1"}, "Not below zero."),
        (
            {"kind": "team_budget", "tell_member": "on"},
            "Only a member&#x27;s budget rule has a member to tell.",
        ),
    ],
)
def test_a_rule_with_bad_levels_is_refused(staff_client, fields, said):
    data = {"name": "r", "percents": "50,80,100", "enabled": "on", **fields}
    answer = staff_client.post(reverse("admin:alerts_rule_add"), data)
    assert said in errors(answer)
    assert not Rule.objects.exists()


def test_a_rule_is_saved_with_its_channels(staff_client, json_channel):
    data = {
        "name": "Credit",
        "kind": "venice_credit",
        "percents": "50,80,100",
        "limit": "3",
        "channels": [json_channel.pk],
        "enabled": "on",
    }
    answer = staff_client.post(reverse("admin:alerts_rule_add"), data)
    assert answer.status_code == 302
    rule = Rule.objects.get()
    assert list(rule.channels.all()) == [json_channel]
    listed = staff_client.get(reverse("admin:alerts_rule_changelist")).content.decode()
    assert "below 3.00 USD" in listed and "ops hook" in listed


def test_alerts_are_read_only(staff_client):
    alert = Alert.objects.create(rule_name="x", subject="s", title="Hello", body="World")
    assert staff_client.get(reverse("admin:alerts_alert_add")).status_code == 403
    page = staff_client.get(reverse("admin:alerts_alert_change", args=[alert.pk]))
    assert page.status_code == 200 and b'name="title"' not in page.content
    staff_client.post(reverse("admin:alerts_alert_delete", args=[alert.pk]), {"post": "yes"})
    assert Alert.objects.filter(pk=alert.pk).exists()
