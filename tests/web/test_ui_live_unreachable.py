"""The live view notices when Venice becomes unreachable for a job, and when it answers again,
so the job page's "Venice is unreachable, still waiting" comes and goes without a reload."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.models import Job

from .ui_helpers import make_job, make_wallet

pytestmark = pytest.mark.django_db


def test_unreachable_is_part_of_the_signature_in_python_and_sql(member):
    job = make_job(
        member,
        make_wallet(),
        state=Job.State.PROCESSING,
        execution_duration_ms=4000,
        average_execution_time_ms=20000,
    )
    reachable = job.signature
    assert Job.objects.changed_since(member, {job.pk: reachable}) == []

    Job.objects.filter(pk=job.pk).update(venice_unreachable_since=timezone.now())
    job.refresh_from_db()
    unreachable = job.signature
    assert unreachable == f"{reachable}:u"
    assert Job.objects.changed_since(member, {job.pk: reachable}) == [job]
    assert Job.objects.changed_since(member, {job.pk: unreachable}) == []

    Job.objects.filter(pk=job.pk).update(venice_unreachable_since=None)
    assert Job.objects.changed_since(member, {job.pk: unreachable}) == [job]


def test_the_page_shows_the_outage_after_one_poll(client, member):
    job = make_job(member, make_wallet(), state=Job.State.QUEUED)
    client.force_login(member)
    url = f"/jobs/live/?view=detail&s={job.signature}"
    assert client.get(url).status_code == 204
    Job.objects.filter(pk=job.pk).update(venice_unreachable_since=timezone.now())
    body = client.get(url).content.decode()
    assert "Venice is unreachable, still waiting" in body
    assert f"{job.pk}:queued::u" in body  # the page's next poll carries the new signature
    assert client.get(f"/jobs/live/?view=detail&s={job.pk}:queued::u").status_code == 204
