"""Takes: one request, several jobs, one reservation that holds them all or none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from jobs import enqueue, pipeline
from jobs.models import Job, JobEvent
from tests.jobs_helpers import MUSIC, race, run_to_end
from wallets import budgets
from wallets.models import Budget

pytestmark = pytest.mark.django_db

LYRIA = "lyria-3-pro"  # a flat $0.40 a take
LYRIA_FIELDS = {"prompt": "slow cinematic strings at dawn"}


@pytest.fixture
def queued(monkeypatch):
    """The job ids handed to the worker, in order."""
    calls = []
    monkeypatch.setattr(enqueue, "async_task", lambda name, job_id, **kw: calls.append(job_id))
    return calls


def member_budget(member, limit: str) -> Budget:
    budget = budgets.member_budget(member.pk, budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal(limit))
    return budget


def test_three_takes_are_three_jobs_in_one_group_each_enqueued(
    member, wallet, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs = pipeline.create_takes(
            user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=3, private=True
        )
    assert [job.take_number for job in jobs] == [1, 2, 3]
    assert len({job.take_group for job in jobs}) == 1 and jobs[0].take_group is not None
    assert queued == [job.pk for job in jobs]
    for job in Job.objects.filter(pk__in=queued):
        assert (job.state, job.quoted_usd, job.reserved_usd) == (
            Job.State.PENDING,
            Decimal("0.4"),
            Decimal("0.4"),
        )
        assert job.private and job.prompt == LYRIA_FIELDS["prompt"]
    assert JobEvent.objects.filter(note__contains="take 2 of 3").count() == 1
    budget = budgets.member_budget(member.pk, jobs[0].budget_month)
    assert budget.reserved_usd == Decimal("1.2")
    assert budgets.team_budget(jobs[0].budget_month).reserved_usd == Decimal("1.2")


def test_a_single_take_has_no_group_as_before(member, wallet, queued):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    assert job.take_group is None and job.take_number is None and job.takes_url == ""


def test_a_budget_that_fits_two_takes_refuses_three_whole(member, wallet, queued):
    budget = member_budget(member, "1.00")  # 2 × 0.40 fit, 3 do not
    with pytest.raises(pipeline.JobRejected) as refused:
        pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=3)
    message = str(refused.value)
    assert "3 takes at $0.40 each ($1.20)" in message
    assert "2 takes would fit" in message and "Nothing was reserved" in message
    assert refused.value.field == "takes"
    assert Job.objects.count() == 0 and JobEvent.objects.count() == 0 and queued == []
    budget.refresh_from_db()
    assert budget.reserved_usd == 0
    assert budgets.team_budget(budget.month).reserved_usd == 0

    two = pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=2)
    budget.refresh_from_db()
    assert len(two) == 2 and budget.reserved_usd == Decimal("0.8")


def test_the_team_budget_refuses_the_takes_whole_too(member, wallet, queued):
    team = budgets.team_budget(budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=team.pk).update(limit_usd=Decimal("0.50"))
    with pytest.raises(pipeline.JobRejected, match="the team's budget.*1 take would fit"):
        pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=4)
    assert Job.objects.count() == 0
    mine = budgets.member_budget(member.pk, team.month)
    assert mine.reserved_usd == 0  # the member's hold was undone with the team's refusal


@pytest.mark.parametrize("takes", [0, 5, -1])
def test_a_number_of_takes_outside_one_to_four_is_refused_before_anything(
    member, wallet, queued, takes, monkeypatch
):
    def no_quote(*args, **kwargs):  # the number is checked before Venice is asked anything
        raise AssertionError("priced a refused request")

    monkeypatch.setattr(pipeline.pricing, "price", no_quote)
    with pytest.raises(pipeline.JobRejected, match="Ask for 1 to 4 takes"):
        pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=takes)
    assert Job.objects.count() == 0 and Budget.objects.filter(reserved_usd__gt=0).count() == 0


def test_no_wallet_refuses_the_takes_before_any_reservation(member, venice, queued):
    with pytest.raises(pipeline.JobRejected, match="No wallet pays"):
        pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=3)
    assert Job.objects.count() == 0 and Budget.objects.filter(reserved_usd__gt=0).count() == 0


def test_each_take_runs_to_the_end_on_its_own(member, wallet, queued, media_root):
    jobs = pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=2)
    done = [run_to_end(job) for job in jobs]
    assert [job.state for job in done] == [Job.State.COMPLETED] * 2
    assert all(job.audio_format == "wav" and job.audio_peaks for job in done)
    assert done[0].queue_id != done[1].queue_id
    budget = budgets.member_budget(member.pk, done[0].budget_month)
    assert (budget.reserved_usd, budget.spent_usd) == (0, Decimal("0.8"))


@pytest.mark.django_db(transaction=True)
def test_requests_racing_for_the_last_dollars_get_all_their_takes_or_none(member, wallet, queued):
    """Six requests of 3 takes ($1.20 each) race for a budget of $2.50: two fit, four are
    refused whole; no request gets only some of its takes (run on PostgreSQL too)."""
    budget = member_budget(member, "2.50")
    results = race(
        lambda: _try(
            lambda: pipeline.create_takes(user=member, model_id=LYRIA, fields=LYRIA_FIELDS, takes=3)
        )
    )
    made = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, pipeline.JobRejected)]
    assert (len(made), len(refused)) == (2, 4), results
    assert all(len(jobs) == 3 for jobs in made)
    assert Job.objects.count() == 6
    groups = set(Job.objects.values_list("take_group", flat=True))
    assert len(groups) == 2
    budget.refresh_from_db()
    assert budget.reserved_usd == Decimal("2.4")


def _try(call):
    try:
        return call()
    except pipeline.JobRejected as exc:
        return exc
