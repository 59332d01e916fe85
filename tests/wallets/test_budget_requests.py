"""Members asking for more budget; admins answering once, through an atomic raise of the limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from wallets import budgets, requests
from wallets.models import AuditEntry, Budget, BudgetRequest

pytestmark = pytest.mark.django_db
Status = BudgetRequest.Status


@pytest.fixture
def queued(monkeypatch):
    """The tasks the answers queue for the worker (mail), by name and request id."""
    calls = []
    monkeypatch.setattr(requests, "async_task", lambda name, *args: calls.append((name, *args)))
    return calls


@pytest.fixture
def month(member, settings):
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "20"
    month = budgets.month_of(timezone.now())
    budgets.member_budget(member.pk, month)
    return month


def test_a_member_asks_and_admins_are_told(
    member, month, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        asked = requests.ask(member, Decimal("15"), "A game jam this weekend")
    assert (asked.status, asked.month, asked.amount_usd) == (Status.PENDING, month, Decimal("15"))
    assert queued == [("wallets.requests.tell_admins", asked.pk)]


def test_a_second_request_waits_for_the_first(member, month, queued):
    requests.ask(member, Decimal("15"), "A game jam")
    waiting = r"already asked for \$15.00 on .*not answered"
    with pytest.raises(requests.RequestRefused, match=waiting):
        requests.ask(member, Decimal("5"), "And more")
    assert BudgetRequest.objects.count() == 1


def test_approval_raises_the_limit_atomically_and_is_audited(
    member, admin_user, month, queued, django_capture_on_commit_callbacks
):
    asked = requests.ask(member, Decimal("15"), "A game jam")
    # A job reserves between the question and the answer: the raise must not overwrite it.
    budgets.reserve(member.pk, month, Decimal("2.5"))
    with django_capture_on_commit_callbacks(execute=True):
        answered = requests.decide(asked.pk, admin_user, approve=True, note="Have fun")
    budget = Budget.objects.get(user=member, month=month)
    assert (budget.limit_usd, budget.reserved_usd) == (Decimal("35"), Decimal("2.5"))
    assert (answered.status, answered.decided_by, answered.note) == (
        Status.APPROVED,
        admin_user,
        "Have fun",
    )
    entries = AuditEntry.objects.filter(actor=admin_user).order_by("id")
    assert [(e.action, e.before, e.after) for e in entries] == [
        (AuditEntry.Action.BUDGET_CHANGE, {"limit_usd": "20.00"}, {"limit_usd": "35.00"}),
        (
            AuditEntry.Action.BUDGET_REQUEST,
            {"status": "pending", "note": ""},
            {"status": "approved", "note": "Have fun"},
        ),
    ]
    assert queued[-1] == ("wallets.requests.tell_member", asked.pk)
    with pytest.raises(requests.RequestRefused, match="approved already"):
        requests.decide(asked.pk, admin_user, approve=True, note="twice")
    assert Budget.objects.get(user=member, month=month).limit_usd == Decimal("35")


def test_a_denial_changes_no_budget(member, admin_user, month, queued):
    asked = requests.ask(member, Decimal("15"), "A game jam")
    requests.decide(asked.pk, admin_user, approve=False, note="Not this month")
    assert Budget.objects.get(user=member, month=month).limit_usd == Decimal("20")
    assert BudgetRequest.objects.get().status == Status.DENIED
    # Answered, the member may ask again.
    requests.ask(member, Decimal("5"), "A smaller one")


def test_the_mails_say_who_asked_what_and_the_answer(member, admin_user, month, queued, settings):
    settings.ADMINS = [("", "admin@example.com")]
    member.email = "member@example.com"
    member.save()
    asked = requests.ask(member, Decimal("15"), "A game jam")
    requests.tell_admins(asked.pk)
    requests.decide(asked.pk, admin_user, approve=False, note="Not this month")
    requests.tell_member(asked.pk)
    to_admins, to_member = mail.outbox
    assert to_admins.to == ["admin@example.com"] and "member asks for $15.00" in to_admins.subject
    assert "A game jam" in to_admins.body
    assert to_member.to == ["member@example.com"] and "denied" in to_member.subject
    assert "Not this month" in to_member.body


def test_a_member_without_an_address_reads_the_answer_on_the_page(
    member, admin_user, month, queued
):
    asked = requests.ask(member, Decimal("15"), "A game jam")
    requests.decide(asked.pk, admin_user, approve=True, note="")
    requests.tell_member(asked.pk)
    assert mail.outbox == []


def test_the_team_shortfall_is_what_the_team_budget_cannot_cover(member, month, queued, settings):
    budgets.team_budget(month)
    Budget.objects.filter(user__isnull=True, month=month).update(limit_usd=Decimal("10"))
    asked = requests.ask(member, Decimal("15"), "A game jam")
    assert requests.team_shortfall(asked) == Decimal("5")
