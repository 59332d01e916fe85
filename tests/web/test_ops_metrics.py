"""/metrics: only with the bearer token, and figures a Prometheus parser reads back from a real
job run against the sandbox (with a 429 on queue and on retrieve)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs import pipeline
from jobs.models import Job
from ops import record
from ops.models import Counter
from tests.jobs_helpers import MUSIC, race, run_to_end
from wallets.models import TopUp

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-5b1f"


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_switched_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", f"bearer{TOKEN}", TOKEN, f"Basic {TOKEN}"]
)
def test_refused_without_the_right_bearer_token(client, settings, header):
    settings.METRICS_TOKEN = TOKEN
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"studio_" not in response.content


def test_a_scrape_after_a_job_with_429s(client, settings, member, wallet, venice):
    settings.METRICS_TOKEN = TOKEN
    empty = scrape(client)
    assert empty[("studio_worker_heartbeat_age_seconds", ())] == -1  # never beat yet
    assert empty[("studio_jobs", (("state", "completed"),))] == 0

    venice.set_fault("queue", status=429, count=1)
    venice.set_fault("retrieve", status=429, count=1)
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    job = run_to_end(job)
    assert job.state == Job.State.COMPLETED, job.error_message
    record.beat()

    got = scrape(client)
    team = ("wallet", "team")
    assert got[("studio_jobs", (("state", "completed"),))] == 1
    assert got[("studio_jobs", (("state", "pending"),))] == 0
    assert got[("studio_venice_calls_total", (("endpoint", "queue"), team))] == 2
    assert got[("studio_venice_rate_limited_total", (("endpoint", "queue"), team))] == 1
    assert got[("studio_venice_rate_limited_total", (("endpoint", "retrieve"), team))] == 1
    # Each HTTP request counts, the client's own retry of the 429 included.
    assert got[("studio_venice_calls_total", (("endpoint", "retrieve"), team))] >= job.polls
    assert got[("studio_submit_latency_seconds_count", ())] == 1
    assert got[("studio_submit_latency_seconds_bucket", (("le", "+Inf"),))] == 1
    assert got[("studio_submit_latency_seconds_sum", ())] == pytest.approx(
        (job.queued_at - job.created_at).total_seconds(), abs=1e-3
    )
    assert got[("studio_poll_detection_delay_seconds", (("stat", "count"),))] == 1
    assert got[("studio_poll_detection_delay_seconds", (("stat", "max"),))] >= 0
    assert got[("studio_spend_usd_total", (team,))] == pytest.approx(float(job.settled_usd))
    credited = TopUp.objects.filter(status=TopUp.Status.CREDITED).count()
    assert credited >= 1  # the fresh wallet bought credit before its first job
    assert got[("studio_topups", (("status", "credited"), team))] == credited
    assert 0 <= got[("studio_worker_heartbeat_age_seconds", ())] < 60
    assert got[("studio_pending_job_wait_seconds", ())] == 0
    assert got[("studio_broker_queue_size", ())] >= 0


@pytest.mark.django_db(transaction=True)
def test_counts_made_at_once_are_not_lost():
    def count():
        for _ in range(20):
            record.bump("queue_calls", 7)
        return True

    assert race(count, n=6) == [True] * 6
    assert Counter.objects.get(name="queue_calls", wallet_id=7).value == 120
