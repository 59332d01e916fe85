"""One job: prompt and settings, cost, timeline, the error in plain words, and its actions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import Job, JobEvent

from .ui_helpers import make_job

pytestmark = pytest.mark.django_db


def test_shows_prompt_settings_costs_and_timeline(client, member, wallet_row):
    job = make_job(
        member,
        wallet_row,
        state=Job.State.COMPLETED,
        settled_usd=Decimal("0.5"),
        charged_usd=Decimal("0.5"),
        refunded_usd=Decimal("0.1"),
        lyrics_prompt="la la la",
        force_instrumental=True,
    )
    JobEvent.objects.create(job=job, state=Job.State.QUEUED, note="Venice queue id q-123")
    client.force_login(member)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "warm lo-fi beat with soft piano" in page and "la la la" in page
    assert "<dt>Quoted</dt><dd>$0.50</dd>" in page
    assert '$0.50 <span class="muted">(Venice\'s ledger)</span>' in page
    assert "<dt>Refunded</dt><dd>$0.10</dd>" in page
    assert "Venice queue id q-123" in page
    assert "Instrumental" in page and "0:30 min" in page
    assert f'href="/library/again/{job.pk}/">Run again</a>' in page
    assert f'action="/library/from-job/{job.pk}/"' in page


def test_failure_in_plain_words_with_the_suggested_prompt(client, member, wallet_row):
    job = make_job(
        member,
        wallet_row,
        state=Job.State.FAILED,
        error_status=400,
        error_code="content_policy",
        error_message="Venice refused this prompt under its content policy. Too graphic.",
        suggested_prompt="a gentle <em>storm</em>",
    )
    client.force_login(member)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Venice refused this prompt under its content policy. Too graphic." in page
    assert "HTTP 400 content_policy" in page
    assert "a gentle &lt;em&gt;storm&lt;/em&gt;" in page
    assert f"?job={job.pk}&amp;suggested=1" in page


def test_others_private_job_is_404_but_shared_ones_are_visible(client, member, other, wallet_row):
    secret = make_job(other, wallet_row, private=True)
    shared = make_job(other, wallet_row)
    client.force_login(member)
    assert client.get(secret.get_absolute_url()).status_code == 404
    assert client.get(reverse("jobs:timeline", args=[secret.pk])).status_code == 404
    assert client.get(shared.get_absolute_url()).status_code == 200


def test_admin_sees_private_jobs(client, admin_user, other, wallet_row):
    secret = make_job(other, wallet_row, private=True)
    client.force_login(admin_user)
    assert client.get(secret.get_absolute_url()).status_code == 200


def test_running_job_polls_and_finished_one_does_not(client, member, wallet_row):
    running = make_job(member, wallet_row, state=Job.State.PROCESSING)
    done = make_job(member, wallet_row)
    client.force_login(member)
    assert 'hx-trigger="every 1s"' in client.get(running.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 1s"' not in client.get(done.get_absolute_url()).content.decode()


def test_timeline_fragment_listens_for_changes(client, member, wallet_row):
    job = make_job(member, wallet_row)
    client.force_login(member)
    body = client.get(reverse("jobs:timeline", args=[job.pk])).content.decode()
    assert 'hx-trigger="jobs-changed from:body"' in body and "<html" not in body


def test_cancel_a_pending_job_releases_it(client, member, wallet_row):
    job = make_job(member, wallet_row, state=Job.State.PENDING, reserved_usd=Decimal("0.5"))
    client.force_login(member)
    response = client.post(reverse("jobs:cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED


def test_cannot_cancel_someone_elses_job(client, member, other, wallet_row):
    job = make_job(other, wallet_row, state=Job.State.PENDING)
    client.force_login(member)
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.state == Job.State.PENDING


def test_cancel_is_a_csrf_protected_post(member, wallet_row):
    job = make_job(member, wallet_row, state=Job.State.PENDING)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    assert strict.get(reverse("jobs:cancel", args=[job.pk])).status_code == 405
    assert strict.post(reverse("jobs:cancel", args=[job.pk])).status_code == 403
    # htmx sends the token in a header, which is accepted.
    page = strict.get(job.get_absolute_url()).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = strict.post(reverse("jobs:cancel", args=[job.pk]), headers={"X-CSRFToken": token})
    assert response.status_code == 302
