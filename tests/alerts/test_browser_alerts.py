"""An admin in Debian's chromium: sends a test through every alert channel and reads the
answer per channel, then reads the list of alerts and who was told, at desktop and 375 px.

With STUDIO_SCREENSHOTS=<folder> set: admin-alerts-channels(-375).png, admin-alerts(-375).png,
admin-alert-rule.png, admin-alert-deliveries.png, admin-alert.png."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from alerts import notify
from alerts.models import Channel, Rule
from tests.browser_helpers import DESKTOP, PHONE, shot, sign_in_admin
from wallets import budgets
from wallets.models import Budget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_tests_the_channels_and_reads_the_alerts(
    page, admin_user, member, json_channel, receiver, smtp, tasks, settings
):
    Channel.objects.create(name="dead hook", kind=Channel.Kind.JSON, target="http://127.0.0.1:9/")
    # Script errors fail the test (the admin has no favicon, so not every failed load does).
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    sign_in_admin(page, admin_user)
    page.goto("/admin/alerts/channel/")
    assert page.get_by_role("link", name="ops hook").is_visible()
    page.get_by_role("button", name="Send a test through every channel").click()
    page.wait_for_url(re.compile(r"/admin/alerts/channel/$"))
    said = page.locator(".messagelist")
    assert said.locator(".success").text_content().startswith("Ops hook: delivered to json://")
    assert said.locator(".error").text_content().startswith("Dead hook: not delivered:")
    assert receiver.posts[0][1]["title"] == "Test alert from Studio"
    shot(page, "admin-alerts-channels")
    page.set_viewport_size(PHONE)
    shot(page, "admin-alerts-channels-375")
    page.set_viewport_size(DESKTOP)

    # A member passes 80 % of their budget: the minute's evaluation records and sends it.
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "10"
    month = budgets.month_of(timezone.now())
    budgets.member_budget(member.pk, month)
    Budget.objects.filter(user=member, month=month).update(spent_usd=Decimal("8.4"))
    member.email = "member@example.com"
    member.save()
    # The rule, through its form: the member whose budget it is is told too.
    page.goto("/admin/alerts/rule/add/")
    page.get_by_label("Name").fill("Member budgets")
    page.get_by_label("Kind").select_option(Rule.Kind.MEMBER_BUDGET)
    page.get_by_label("Also email the member").check()
    shot(page, "admin-alert-rule")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/alerts/rule/$"))
    rule = Rule.objects.get(name="Member budgets")
    assert rule.tell_member and rule.kind == Rule.Kind.MEMBER_BUDGET
    rule.channels.add(json_channel, Channel.objects.get(name="dead hook"))
    notify.evaluate()

    page.goto("/admin/alerts/alert/")
    sent = page.locator("#result_list tbody tr", has_text="passed 80% (84% used)")
    # The dead hook is retrying; the member's own email went out.
    assert "the member ✓, ops hook ✓, dead hook …" in sent.text_content()
    assert smtp.messages[0].rcpt_tos == ["member@example.com"]
    passed = page.locator("#result_list tbody tr", has_text="passed 50%")
    assert "Not sent: the higher level 80 is recorded." in passed.text_content()
    shot(page, "admin-alerts")
    page.set_viewport_size(PHONE)
    shot(page, "admin-alerts-375")
    page.set_viewport_size(DESKTOP)

    page.goto("/admin/alerts/delivery/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 5  # two tests and three for the budget
    shot(page, "admin-alert-deliveries")
    retrying = page.locator("#result_list tbody tr", has_text="Failed, will retry")
    assert "dead hook" in retrying.text_content()
    assert "A Connection error occurred" in retrying.text_content()
    retrying.get_by_role("link", name=re.compile("passed 80%")).click()  # to the alert
    page.wait_for_url(re.compile(r"/admin/alerts/alert/\d+/change/$"))
    told = page.locator(".inline-group")
    assert "ops hook" in told.text_content() and "Delivered" in told.text_content()
    shot(page, "admin-alert")
    assert script_errors == []
