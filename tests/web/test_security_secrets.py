"""The wallet's private key appears nowhere: not in the database, a log line, a page, an error
page, the admin, or a django-q2 task's arguments (issue 6, "Intruders").

A wallet is imported with a known key; a worker cluster (logging at DEBUG) runs members' jobs
and top-ups with it, an admin tops up by hand and asks for a sync; then every member page and
every admin page is rendered, a server error provoked, the database dumped, and the worker log,
the task tables (and the Redis broker, when used), this process's log records and the
commands' output are searched for the key in every spelling: hex with and without 0x, upper
case, base64.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import time

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from eth_account import Account

from jobs.models import Job
from tests.reliability_helpers import (
    Cluster,
    record,
    wait_for_jobs,
    wait_until,
)
from tests.twofactor_helpers import sign_in_staff
from wallets import keys
from wallets.models import TopUp

PASSWORD = "member-pass-123"


def spellings(raw: bytes) -> list[str]:
    hexed = raw.hex()
    return [
        hexed,
        "0x" + hexed,
        hexed.upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
    ]


def body(response) -> str:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    return data.decode(errors="replace")


def leaks(sources: dict[str, str], secret: list[str]) -> dict[str, list[str]]:
    return {
        name: [s[:10] + "..." for s in secret if s in text]
        for name, text in sources.items()
        if any(s in text for s in secret)
    }


def admin_pages() -> list[str]:
    """Every admin URL, with the id of an existing row of its model where it takes one."""
    urls = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("^") or "<path:url>" in route or "logout" in route:
                    continue
                match = re.match(r"admin/(\w+)/(\w+)/", route)
                pk = "1"
                if match and "<" in route:
                    try:
                        model = apps.get_model(match.group(1), match.group(2))
                        row = model.objects.order_by("pk").last()
                        pk = str(row.pk) if row else "1"
                    except LookupError:
                        pass
                url = re.sub(r"<path:object_id>|<int:[^>]+>|<path:[^>]+>", pk, route)
                urls.append("/" + re.sub(r"<[^>]+>", "wallets", url))

    walk(get_resolver().url_patterns)
    return sorted(set(u for u in urls if u.startswith("/admin/")))


def task_arguments() -> str:
    """What django-q2 stored of every task: function, arguments, results, queued payloads."""
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    parts = []
    for task in Task.objects.all():
        parts.append(repr((task.func, task.args, task.kwargs, task.result, task.name)))
    for queued in OrmQ.objects.all():
        try:
            parts.append(repr(SignedPackage.loads(queued.payload)))
        except Exception as exc:  # noqa: BLE001 - an unreadable payload is shown as it is
            parts.append(f"{queued.payload} ({type(exc).__name__})")
    for schedule in Schedule.objects.all():
        parts.append(repr((schedule.func, schedule.args, schedule.kwargs)))
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        broker = redis.Redis.from_url(url)
        for key in broker.scan_iter("*"):
            kind = broker.type(key)
            if kind == b"list":
                parts += [repr(item) for item in broker.lrange(key, 0, -1)]
            elif kind == b"string":
                parts.append(repr(broker.get(key)))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_wallet_key_appears_in_no_page_log_dump_or_task(
    venice, media_root, tmp_path, client, django_user_model, settings, caplog
):
    started = time.monotonic()
    caplog.set_level(logging.DEBUG)
    account = Account.create()
    secret = spellings(bytes(account.key))
    admin = django_user_model.objects.create_superuser("admin", password="admin-pass-123")
    member = django_user_model.objects.create_user("member", password=PASSWORD)
    out = io.StringIO()
    wallet = keys.import_evm_wallet("team", account.key.hex(), make_default=True)
    venice.faucet(wallet.address, "1000")
    call_command("wallet", "list", stdout=out)
    call_command("wallet", "policy", "team", "--amount", "10", stdout=out)

    cluster = Cluster(venice, media_root, tmp_path / "qcluster.log", env={"LOG_LEVEL": "DEBUG"})
    cluster.start()
    try:
        client.force_login(member)
        for prompt in ("warm lo-fi beat with soft piano", "rain on a tin roof at night"):
            answer = client.post(
                "/", {"model": "elevenlabs-music", "prompt": prompt, "duration_seconds": "10"}
            )
            assert answer.status_code == 302
        wait_for_jobs(Job.objects.values_list("pk", flat=True), timeout=60)
        sign_in_staff(client, admin)
        assert client.post("/wallet/top-up/", {"amount_usd": "10"}).status_code == 302
        admin_topup = f"/admin/wallets/wallet/{wallet.pk}/top-up/"
        assert client.post(admin_topup, {"amount": "10"}).status_code == 302
        call_command("topup", "--wallet", "team", "--usd", "10", stdout=out)
        assert client.post("/wallet/refresh/").status_code == 302  # a sync_wallet task
        wait_until(
            lambda: "Processed 'wallets.sync.sync_wallet'" in cluster.log(),
            timeout=30,
            what="the wallet sync",
        )
    finally:
        cluster.stop()
    assert Job.objects.filter(state=Job.State.COMPLETED).count() == 2
    assert TopUp.objects.filter(status=TopUp.Status.CREDITED).count() >= 3

    # Every page a member and an admin can open, with the rows this run made.
    pages = {}
    client.force_login(member)
    job_ids = list(Job.objects.values_list("pk", flat=True))
    member_urls = ["/", "/jobs/", "/jobs/?who=team", "/library/", "/library/new/", "/wallet/"]
    member_urls += [f"/jobs/{pk}/" for pk in job_ids] + [f"/jobs/{pk}/timeline/" for pk in job_ids]
    for url in member_urls:
        pages[f"member {url}"] = body(client.get(url))
    sign_in_staff(client, admin)
    for url in [*member_urls, *admin_pages()]:
        response = client.get(url)
        assert response.status_code < 500, url
        pages[f"admin {url}"] = body(response)
    rendered = sum(1 for name in pages if name.startswith("admin /admin/"))

    # A server error on a page that decrypts the key (production: DEBUG off).
    settings.DEBUG = False
    settings.VENICE_API_BASE = "http://venice.invalid/api/v1"  # refused after decrypting
    client.raise_request_exception = False
    error = client.post("/wallet/top-up/", {"amount_usd": "10"})
    assert error.status_code == 500
    pages["500 page"] = error.content.decode()

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    sources = {
        **pages,
        "database dump": dump.getvalue(),
        "worker log": cluster.log(),
        "django-q tasks": task_arguments(),
        "this process's log records": caplog.text,
        "commands' output": out.getvalue(),
    }
    assert "Internal Server Error: /wallet/top-up/" in caplog.text  # the error was logged
    # The search looks where the data is.
    assert wallet.address in sources["database dump"]
    assert "jobs.tasks.submit_job" in sources["django-q tasks"]
    assert "wallets.sync.sync_wallet" in sources["django-q tasks"]
    assert " DEBUG " in sources["worker log"] and "credited" in sources["worker log"]
    assert not leaks(sources, secret), leaks(sources, secret)
    record(
        "Private key in no page, log, dump or task",
        "a known key used by a worker (DEBUG logging) for jobs and top-ups; member and admin "
        "pages, a 500 page (DEBUG off), dumpdata, worker log, django-q task args, log records "
        "and command output searched for it (hex, 0x, upper case, base64)",
        admin_pages=rendered,
        member_pages=len(member_urls),
        bytes_searched=sum(len(text) for text in sources.values()),
        seconds=round(time.monotonic() - started, 1),
    )


@pytest.mark.django_db
def test_the_key_is_not_on_the_development_error_page_either(
    staff_client, client, admin_user, settings
):
    account = Account.create()
    keys.import_evm_wallet("team", account.key.hex(), make_default=True)
    settings.DEBUG = True
    settings.VENICE_API_BASE = "http://venice.invalid/api/v1"
    client.raise_request_exception = False
    page = client.post("/wallet/top-up/", {"amount_usd": "10"}).content.decode()
    assert "Traceback" in page
    assert not leaks({"debug page": page}, spellings(bytes(account.key)))
