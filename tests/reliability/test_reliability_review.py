"""Jobs whose queue answer was lost (NEEDS_REVIEW) when several are unknown at once.

The 200-job fault soak (test_reliability_soak.py) meets this every run: under load, several
jobs of one model lose their queue answer within seconds of each other, some of them accepted
and charged by Venice (a timeout after sending), some not (a 500). A job must adopt a charge
only if no other job whose outcome is unknown could own it; otherwise a member gets, and pays
for, another member's (possibly private) audio.
"""

from __future__ import annotations

import time

import pytest

from jobs import pipeline
from jobs.models import Job
from review import reconcile, spend
from tests.jobs_helpers import raise_after
from tests.reliability_helpers import record
from tests.review_helpers import (
    FIELDS,
    job_for,
    lose_the_answer,
    never_accepted,
    review,
    two_jobs_one_charge,
)
from venice import VeniceClient
from wallets import sync
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


def test_a_charge_two_unknown_jobs_could_own_is_left_for_an_admin(
    wallet, member, venice, settings, django_user_model
):
    accepted, refused = two_jobs_one_charge(wallet, member, venice, settings, django_user_model)
    # Same model, same price, a few seconds apart: nothing tells whose the one charge is.
    assert refused.queue_id is None, "the member's job took the other member's private job"
    assert accepted.state == Job.State.NEEDS_REVIEW and refused.state == Job.State.NEEDS_REVIEW
    record(
        "Lost queue answers: one charge, two candidates",
        "a charged job and a never-accepted one, same model and price, both NEEDS_REVIEW: "
        "neither adopts the charge (left for an admin)",
    )


def test_a_charge_of_another_amount_is_not_adopted(wallet, member, venice, settings):
    long_track = lose_the_answer(job_for(member, "a long ambient drone", 150), venice, settings)
    short_track = never_accepted(job_for(member, "a short jingle", 10), venice)
    assert long_track.quoted_usd != short_track.quoted_usd
    review(wallet)
    long_track.refresh_from_db()
    short_track.refresh_from_db()
    assert short_track.queue_id is None, "adopted a charge of another job's price"
    assert long_track.state == Job.State.QUEUED, "the charge of its own price is its own"
    record(
        "Lost queue answers: the price tells them apart",
        "a charged 150 s job and a never-accepted 10 s one: the charge goes to the job of its "
        "price only",
    )


def test_the_refund_of_a_charge_under_review_is_not_a_difference_yet(
    wallet, member, venice, settings
):
    job = lose_the_answer(
        job_for(member, "contraband crate smashing", 2, model_id="elevenlabs-sound-effects-v2"),
        venice,
        settings,
    )
    time.sleep(0.5)  # the job ends at Venice, refused under the content policy, and refunded
    rows = client_for(wallet).transactions()
    assert {row.type for row in rows} >= {"CHARGE", "REFUND"}
    reconcile.run()
    job.refresh_from_db()
    assert job.state == Job.State.NEEDS_REVIEW
    opened = spend.open_differences()
    assert not opened.exists(), [(d.kind, d.detail) for d in opened]
    record(
        "Refund of a charge still under review",
        "a refused job whose queue answer was lost is charged and refunded by Venice: neither "
        "row is a difference while a job under review may still adopt them",
    )


class StillOnItsWay(BaseException):
    """Raised right after the real queue call: the worker has not saved the queue id yet."""


def test_a_charge_whose_queue_answer_is_still_on_its_way_is_not_adopted(
    wallet, member, venice, monkeypatch, django_user_model
):
    other = django_user_model.objects.create_user("other", password="other-pass-123")
    in_flight = pipeline.create_job(
        user=other, model_id="elevenlabs-music", fields=FIELDS, private=True
    )
    raise_after(monkeypatch, VeniceClient, "queue", StillOnItsWay())  # charged, not saved
    with pytest.raises(StillOnItsWay):
        pipeline.submit(in_flight.pk)
    monkeypatch.undo()
    in_flight.refresh_from_db()
    assert in_flight.state == Job.State.SUBMITTING and in_flight.queue_id is None
    refused = never_accepted(
        pipeline.create_job(user=member, model_id="elevenlabs-music", fields=dict(FIELDS)), venice
    )
    review(wallet)
    refused.refresh_from_db()
    assert refused.queue_id is None, "took the charge of a queue call still on its way"


def test_an_adopted_job_has_its_charge_recorded_at_once(wallet, member, venice, settings):
    job = lose_the_answer(job_for(member, "a lone lost answer", 30), venice, settings)
    settings.VENICE_TIMEOUT_S = 30
    sync.sync_wallets()  # the periodic sync: ledger, then the review adopts the charge
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert job.charged_usd == job.quoted_usd
    reconcile.run()
    opened = spend.open_differences()
    assert not opened.exists(), [(d.kind, d.detail) for d in opened]
