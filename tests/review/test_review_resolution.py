"""Issue 17, item 3: jobs under review that the ledger cannot settle by itself still end.

The review matches whatever it can tell apart, including a charge only one job could have made;
what stays ambiguous an admin resolves from the Job admin's "Resolve" page: adopt a candidate
charge (the job is then polled like any other) or close the job as never accepted (its budget
reservation released). Both steps are in the audit log.
"""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from jobs import pipeline, recovery, resolution
from jobs.models import Job
from tests.jobs_helpers import run_to_end
from tests.reliability_helpers import expected_audio_digest, file_digest, record
from tests.review_helpers import FIELDS, lose_the_answer, review, two_jobs_one_charge
from tests.twofactor_helpers import sign_in_staff
from wallets import budgets, ledger
from wallets.models import AuditEntry
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


def own_audio(job: Job) -> bool:
    return file_digest(job.audio.path) == expected_audio_digest(job)


def test_a_charge_only_one_job_could_have_made_is_matched_and_tells_the_next_apart(
    wallet, member, venice, settings
):
    first = lose_the_answer(
        pipeline.create_job(user=member, model_id="elevenlabs-music", fields=dict(FIELDS)),
        venice,
        settings,
    )
    time.sleep(6)  # the first charge is now older than the second call's window
    second = lose_the_answer(
        pipeline.create_job(
            user=member,
            model_id="elevenlabs-music",
            fields={**FIELDS, "prompt": "the same lullaby, a second take"},
        ),
        venice,
        settings,
    )
    ledger.sync(wallet, client_for(wallet))
    # Same model and price: the first job may own either charge, the second only the second.
    assert len(recovery.candidate_charges(wallet, first)) == 2
    assert len(recovery.candidate_charges(wallet, second)) == 1
    review(wallet)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == second.state == Job.State.QUEUED
    assert first.queue_id != second.queue_id
    for job in (first, second):
        job = run_to_end(job, timeout=30)
        assert job.state == Job.State.COMPLETED and own_audio(job), job.pk
    record(
        "Lost queue answers: a charge only one job could have made",
        "two charged jobs, same model and price, 6 s apart: the second's window holds one charge "
        "only, the first's both; matching by elimination gives each its own charge and audio",
    )


def test_an_admin_adopts_the_charge_and_closes_the_job_venice_never_took(
    wallet, member, venice, settings, django_user_model, admin_user
):
    accepted, refused = two_jobs_one_charge(wallet, member, venice, settings, django_user_model)
    (charge,) = resolution.candidates(accepted)
    assert [c.request_id for c in resolution.candidates(refused)] == [charge.request_id]
    assert charge.rivals == (refused.pk,) and charge.amount_usd == accepted.quoted_usd

    with pytest.raises(resolution.CannotResolve):
        resolution.adopt_charge(accepted, "not-a-charge", actor=admin_user)
    accepted.refresh_from_db()
    assert accepted.state == Job.State.NEEDS_REVIEW and accepted.queue_id is None

    resolution.adopt_charge(accepted, charge.request_id, actor=admin_user, note="asked the team")
    resolution.close_never_accepted(refused, actor=admin_user)
    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.state == Job.State.QUEUED and accepted.queue_id == charge.request_id
    assert refused.state == Job.State.FAILED and refused.error_code == "not_accepted"
    assert refused.reserved_usd == 0
    assert budgets.member_budget(member.pk, refused.budget_month).reserved_usd == 0
    audit = {e.action: e for e in AuditEntry.objects.filter(actor=admin_user)}
    assert audit[AuditEntry.Action.JOB_ADOPT].object_id == str(accepted.pk)
    assert audit[AuditEntry.Action.JOB_ADOPT].after["queue_id"] == charge.request_id
    assert audit[AuditEntry.Action.JOB_ADOPT].note == "asked the team"
    assert audit[AuditEntry.Action.JOB_CLOSE].before["state"] == "needs_review"
    assert audit[AuditEntry.Action.JOB_CLOSE].after["state"] == "failed"
    # Once resolved, nothing more can be done to either.
    with pytest.raises(resolution.CannotResolve):
        resolution.close_never_accepted(accepted, actor=admin_user)
    accepted = run_to_end(accepted, timeout=30)
    assert accepted.state == Job.State.COMPLETED and own_audio(accepted)
    record(
        "Lost queue answers: an admin resolves what the ledger cannot",
        "one charge, two candidate jobs: the admin adopts it for one (polled to its own audio) "
        "and closes the other as never accepted (reservation released); both steps audited; "
        "a charge that is not a candidate is refused",
    )


def test_the_resolve_page_lists_candidates_and_acts(
    wallet, member, venice, settings, django_user_model, admin_user, client
):
    accepted, refused = two_jobs_one_charge(wallet, member, venice, settings, django_user_model)
    (charge,) = resolution.candidates(accepted)
    url = reverse("admin:jobs_job_review", args=[accepted.pk])
    client.force_login(member)
    assert client.get(url).status_code in (302, 403)  # members never see it
    sign_in_staff(client, admin_user)
    page = client.get(url).content.decode()
    assert charge.request_id in page and f"job {refused.pk}" in page
    listing = client.get(reverse("admin:jobs_job_changelist")).content.decode()
    assert url in listing
    answer = client.post(url, {"do": "adopt", "charge": "made-up"})
    assert answer.status_code == 302
    accepted.refresh_from_db()
    assert accepted.state == Job.State.NEEDS_REVIEW  # refused with a message, nothing changed
    client.post(url, {"do": "adopt", "charge": charge.request_id})
    client.post(reverse("admin:jobs_job_review", args=[refused.pk]), {"do": "close"})
    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.queue_id == charge.request_id and refused.state == Job.State.FAILED


def test_the_job_page_no_longer_promises_it_ends_by_itself(
    wallet, member, venice, settings, django_user_model, client
):
    _, refused = two_jobs_one_charge(wallet, member, venice, settings, django_user_model)
    client.force_login(member)
    page = client.get(reverse("jobs:detail", args=[refused.pk])).content.decode()
    assert "it will go on or fail by itself" not in page
    assert "an admin decides" in page
