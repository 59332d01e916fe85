"""/metrics for Prometheus, computed from the database at scrape time.

The web and the worker are different processes (several of each), so in-process counters
would each see a part; every figure here is read from rows all processes write: jobs and their
top-ups, ``ops`` counters (each queue and retrieve request and its 429s) and the worker's heartbeat.
"""

from __future__ import annotations

import datetime
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from jobs.models import Job
from ops import record
from ops.models import Counter
from wallets.models import TopUp, Wallet

SUBMIT_BUCKETS_S = (0.5, 1, 2, 5, 10, 30, 60, 300)
DETECTION_WINDOW = datetime.timedelta(hours=1)


def _wallet_names() -> dict[int, str]:
    return dict(Wallet.objects.values_list("pk", "name"))


def jobs_by_state():
    family = GaugeMetricFamily("studio_jobs", "Jobs in each state.", labels=["state"])
    counts = dict(Job.objects.values_list("state").annotate(n=Count("pk")))
    for state in Job.State.values:
        family.add_metric([state], counts.get(state, 0))
    yield family


def venice_calls(wallets: dict[int, str]):
    counters = {
        (name, wallet_id): value
        for name, wallet_id, value in Counter.objects.values_list("name", "wallet_id", "value")
    }
    calls = CounterMetricFamily(
        "studio_venice_calls", "Calls made to Venice's audio API.", labels=["endpoint", "wallet"]
    )
    limited = CounterMetricFamily(
        "studio_venice_rate_limited",
        "Calls Venice answered with 429 (rate or concurrency limit).",
        labels=["endpoint", "wallet"],
    )
    for wallet_id, name in wallets.items():
        calls.add_metric(["queue", name], counters.get(("queue_calls", wallet_id), 0))
        calls.add_metric(["retrieve", name], counters.get(("retrieve_calls", wallet_id), 0))
        limited.add_metric(["queue", name], counters.get(("queue_429", wallet_id), 0))
        limited.add_metric(["retrieve", name], counters.get(("retrieve_429", wallet_id), 0))
    yield calls
    yield limited


def submit_latency():
    """From the member's submit to Venice's queue id, over every queued job: a cumulative
    histogram, so Prometheus can take rates and quantiles of it."""
    latency = ExpressionWrapper(F("queued_at") - F("created_at"), output_field=DurationField())
    queued = Job.objects.filter(queued_at__isnull=False).annotate(latency=latency)
    counts = {
        f"le_{i}": Count("pk", filter=Q(latency__lte=datetime.timedelta(seconds=bound)))
        for i, bound in enumerate(SUBMIT_BUCKETS_S)
    }
    row = queued.aggregate(total=Count("pk"), seconds=Sum("latency"), **counts)
    buckets = [(str(bound), row[f"le_{i}"]) for i, bound in enumerate(SUBMIT_BUCKETS_S)]
    buckets.append(("+Inf", row["total"]))
    total = row["seconds"] or datetime.timedelta(0)
    yield HistogramMetricFamily(
        "studio_submit_latency_seconds",
        "From submit to Venice's queue id.",
        buckets=buckets,
        sum_value=total.total_seconds(),
    )


def detection_delay():
    """How late a finished generation is noticed, for jobs completed in the last hour: from
    the last poll that saw it still running (or, without one, from when Venice's reported
    inference time ran out) to the poll that saw it done, saving included. An upper bound."""
    since = timezone.now() - DETECTION_WINDOW
    delays = []
    for queued_at, progress_at, inference_s, finished_at in Job.objects.filter(
        state=Job.State.COMPLETED, finished_at__gte=since, queued_at__isnull=False
    ).values_list("queued_at", "progress_at", "inference_time_s", "finished_at"):
        start = queued_at + datetime.timedelta(seconds=inference_s or 0)
        if progress_at and progress_at > start:
            start = progress_at
        delays.append(max(0.0, (finished_at - start).total_seconds()))
    family = GaugeMetricFamily(
        "studio_poll_detection_delay_seconds",
        "Delay noticing finished jobs over the last hour (upper bound).",
        labels=["stat"],
    )
    if delays:
        delays.sort()
        family.add_metric(["p50"], delays[len(delays) // 2])
        family.add_metric(["p95"], delays[min(len(delays) - 1, int(len(delays) * 0.95))])
        family.add_metric(["max"], delays[-1])
    family.add_metric(["count"], len(delays))
    yield family


def topups_and_spend(wallets: dict[int, str]):
    topups = GaugeMetricFamily("studio_topups", "Top-ups by outcome.", labels=["status", "wallet"])
    topups_usd = GaugeMetricFamily(
        "studio_topups_usd", "USD of top-ups by outcome.", labels=["status", "wallet"]
    )
    rows = TopUp.objects.values_list("wallet_id", "status").annotate(
        n=Count("pk"), usd=Sum("amount_usd")
    )
    seen = {(wallet_id, status): (n, usd) for wallet_id, status, n, usd in rows}
    for wallet_id, name in wallets.items():
        for status in TopUp.Status.values:
            n, usd = seen.get((wallet_id, status), (0, 0))
            topups.add_metric([status, name], n)
            topups_usd.add_metric([status, name], float(usd or 0))
    yield topups
    yield topups_usd
    spend = CounterMetricFamily(
        "studio_spend_usd", "USD charged for jobs (settled).", labels=["wallet"]
    )
    spent = dict(Job.objects.values_list("wallet_id").annotate(usd=Sum("settled_usd")))
    for wallet_id, name in wallets.items():
        spend.add_metric([name], float(spent.get(wallet_id) or 0))
    yield spend


def worker_lag():
    from django_q.brokers import get_broker

    age = record.age()
    yield GaugeMetricFamily(
        "studio_worker_heartbeat_age_seconds",
        "Seconds since the worker's every-minute sweep last ran (-1: never).",
        value=-1 if age is None else age.total_seconds(),
    )
    now = timezone.now()
    due = (
        Job.objects.filter(state=Job.State.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("created_at")
        .values_list("next_attempt_at", "created_at")
        .first()
    )
    waited = 0.0 if due is None else (now - (due[0] or due[1])).total_seconds()
    yield GaugeMetricFamily(
        "studio_pending_job_wait_seconds",
        "How long the oldest job due for submission has waited for a worker.",
        value=max(0.0, waited),
    )
    yield GaugeMetricFamily(
        "studio_broker_queue_size", "Tasks waiting in the broker.", value=get_broker().queue_size()
    )


class StudioCollector:
    def collect(self):
        wallets = _wallet_names()
        yield from jobs_by_state()
        yield from venice_calls(wallets)
        yield from submit_latency()
        yield from detection_delay()
        yield from topups_and_spend(wallets)
        yield from worker_lag()


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StudioCollector())
    return generate_latest(registry)


def _authorised(request) -> bool:
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {settings.METRICS_TOKEN}"
    return hmac.compare_digest(given.encode(), expected.encode())


@login_not_required
@require_GET
@never_cache
def metrics(request):
    if not settings.METRICS_TOKEN:
        return HttpResponse(status=404)  # switched off: nothing to find here
    if not _authorised(request):
        response = HttpResponse("A bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
