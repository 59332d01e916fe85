"""The live-status endpoint: one request for all running jobs, 204 when nothing changed."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job

from .ui_helpers import make_job, processing_job, unsaved_job

pytestmark = pytest.mark.django_db


def poll_url(page: str) -> str:
    match = re.search(r'hx-get="(/jobs/live/\?[^"]+)"', page)
    return match.group(1).replace("&amp;", "&") if match else ""


def test_unchanged_jobs_get_a_204_with_no_body(client, member, wallet_row):
    make_job(member, wallet_row, state=Job.State.QUEUED)
    client.force_login(member)
    url = poll_url(client.get(reverse("jobs:list")).content.decode())
    assert url
    response = client.get(url)
    assert response.status_code == 204 and response.content == b""


def test_a_change_sends_the_row_out_of_band_and_a_new_poll(client, member, wallet_row):
    job = make_job(member, wallet_row, state=Job.State.QUEUED)
    client.force_login(member)
    url = poll_url(client.get(reverse("jobs:list")).content.decode())
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.PROCESSING,
        execution_duration_ms=1000,
        average_execution_time_ms=4000,
        progress_at=timezone.now(),
    )
    response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"jobs-changed": {}}  # django-htmx's form
    assert f'<li id="job-{job.pk}" class="job state-processing" hx-swap-oob="true">' in body
    assert 'role="progressbar"' in body
    next_url = poll_url(body)
    assert next_url and next_url != url
    assert client.get(next_url).status_code == 204


def test_the_poll_stops_once_nothing_is_running(client, member, wallet_row):
    job = make_job(member, wallet_row, state=Job.State.PROCESSING)
    client.force_login(member)
    url = poll_url(client.get(reverse("jobs:list")).content.decode())
    Job.objects.filter(pk=job.pk).update(state=Job.State.COMPLETED)
    body = client.get(url).content.decode()
    assert '<div id="live-poll" hidden></div>' in body  # no trigger: polling ends
    assert "hx-trigger" not in body.split(f'id="job-{job.pk}"')[0]
    assert f'src="/jobs/{job.pk}/audio/"' in body  # the player arrives


def test_detail_view_gets_its_live_panel(client, member, wallet_row):
    job = make_job(member, wallet_row, state=Job.State.QUEUED)
    client.force_login(member)
    url = poll_url(client.get(job.get_absolute_url()).content.decode())
    assert "view=detail" in url
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.FAILED, error_message="It broke.", suggested_prompt="try this"
    )
    body = client.get(url).content.decode()
    assert f'<section id="job-{job.pk}-live" class="card live" hx-swap-oob="true"' in body
    assert "It broke." in body and "try this" in body


def test_others_private_jobs_are_not_reported(client, member, wallet_row, django_user_model):
    other = django_user_model.objects.create_user("other", password="x")
    secret = make_job(
        other, wallet_row, state=Job.State.QUEUED, private=True, prompt="secret plans"
    )
    client.force_login(member)
    response = client.get(reverse("jobs:live"), {"s": f"{secret.pk}:pending:"})
    body = response.content.decode()
    assert "secret plans" not in body and f"job-{secret.pk}" not in body


def test_garbage_is_ignored(client, member):
    client.force_login(member)
    for junk in ("", "1;DROP", "a,b", "1:queued", "1:queued::,,", "x:queued:"):
        assert client.get(reverse("jobs:live"), {"s": junk}).status_code == 204


def test_at_most_three_queries_whatever_the_number_of_jobs(
    client, member, wallet_row, django_assert_max_num_queries
):
    jobs = Job.objects.bulk_create(
        [
            unsaved_job(
                member,
                wallet_row,
                n,
                state=Job.State.PROCESSING,
                execution_duration_ms=n,
                average_execution_time_ms=10_000,
            )
            for n in range(100)
        ]
    )
    client.force_login(member)
    shown = [job.signature for job in Job.objects.filter(pk__in=[j.pk for j in jobs])]
    with django_assert_max_num_queries(3):
        response = client.get(reverse("jobs:live"), {"s": ",".join(shown)})
    assert response.status_code == 204
    stale = [sig.replace(":processing:", ":queued:") for sig in shown]
    with django_assert_max_num_queries(3):
        response = client.get(reverse("jobs:live"), {"s": ",".join(stale)})
    assert response.status_code == 200
    assert response.content.decode().count('hx-swap-oob="true"') == 100


def test_only_the_changed_rows_are_sent_and_the_others_are_carried_over(client, member, wallet_row):
    a = processing_job(member, wallet_row, 1000, 9000)
    b = make_job(member, wallet_row, state=Job.State.QUEUED)
    client.force_login(member)
    url = poll_url(client.get(reverse("jobs:list")).content.decode())
    Job.objects.filter(pk=a.pk).update(execution_duration_ms=5000)
    body = client.get(url).content.decode()
    assert f'id="job-{a.pk}"' in body and f'id="job-{b.pk}"' not in body
    assert f"{a.pk}:processing:5000" in body and f"{b.pk}:queued:" in body


def test_sql_and_python_signatures_agree(member, wallet_row):
    for fields in (
        {"state": Job.State.QUEUED},
        {
            "state": Job.State.PROCESSING,
            "execution_duration_ms": 0,
            "average_execution_time_ms": 12345,
        },
    ):
        job = make_job(member, wallet_row, **fields)
        assert Job.objects.changed_since(member, {job.pk: job.signature}) == []
        assert Job.objects.changed_since(member, {job.pk: f"{job.pk}:pending:"}) == [job]


def test_the_live_query_sees_exactly_what_visible_to_sees(
    member, admin_user, wallet_row, django_user_model
):
    other = django_user_model.objects.create_user("other", password="x")
    jobs = [
        make_job(owner, wallet_row, state=Job.State.QUEUED, private=private)
        for owner in (member, other, admin_user)
        for private in (False, True)
    ]
    stale = {job.pk: f"{job.pk}:pending:" for job in jobs}
    for user in (member, other, admin_user):
        seen = Job.objects.changed_since(user, stale)
        visible = Job.objects.visible_to(user).values_list("pk", flat=True)
        assert {job.pk for job in seen} == set(visible)
        assert all(job.author_name == job.user.username for job in seen)
