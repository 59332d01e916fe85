"""LOG_FORMAT=json: one JSON object a line, with the request id, job id and wallet on every line
about them, and never a private key, an API key or a SIWX header."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from logging.config import dictConfig

import pytest
from eth_account import Account

from jobs import pipeline, poller, tasks
from jobs.models import Job
from tests.jobs_helpers import MUSIC
from wallets import keys, sync
from wallets.venice import client_for

pytestmark = pytest.mark.django_db
SIWX_LIKE = re.compile(r"eyJ[A-Za-z0-9+/=]{40,}")  # base64 of a JSON object, as SIWX is


@pytest.fixture
def json_lines(settings):
    """Studio's LOGGING with LOG_FORMAT=json, its console writing into a buffer at DEBUG."""
    from studio import settings as studio_settings

    config = json.loads(json.dumps(studio_settings.LOGGING))
    config["handlers"]["console"]["formatter"] = "json"
    config["root"]["level"] = "DEBUG"
    # httpx and httpcore at DEBUG too: the most they ever say.
    config["loggers"] = {"httpx": {"level": "DEBUG"}, "httpcore": {"level": "DEBUG"}}
    dictConfig(config)
    handler = logging.getLogger().handlers[0]
    buffer = io.StringIO()
    handler.setStream(buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    lines.raw = buffer.getvalue
    yield lines
    dictConfig(settings.LOGGING)


def test_a_request_has_its_id_on_each_line_and_in_the_answer(client, member, json_lines):
    client.force_login(member)
    response = client.get("/jobs/999999/", HTTP_X_REQUEST_ID="req-0123456789")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-0123456789"
    about = [line for line in json_lines() if line.get("request_id") == "req-0123456789"]
    assert any(line["message"].startswith("Not Found: /jobs/999999/") for line in about)
    assert {"time", "level", "name", "message"} <= set(about[0])
    # A made-up id is not trusted as is: a fresh one is made.
    odd = client.get("/jobs/", HTTP_X_REQUEST_ID='x" injected')
    assert re.fullmatch(r"[0-9a-f]{32}", odd["X-Request-ID"])


@pytest.mark.django_db(transaction=True)  # the poll loop closes its connection after each poll
def test_a_job_and_its_wallet_on_every_line_and_no_secret(member, venice, json_lines):
    account = Account.create()
    wallet = keys.import_evm_wallet("team", account.key.hex(), make_default=True)
    venice.faucet(wallet.address, "100")
    api_key = "venice-api-key-" + "7" * 32
    api_wallet = keys.add_api_key_wallet("account", api_key)
    venice.set_fault("queue", status=429, count=1)  # the client logs its retry
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)

    tasks.submit_job(job.pk)
    loop = poller.Loop()
    for _ in range(200):
        job.refresh_from_db()
        if not job.is_running:
            break
        Job.objects.filter(pk=job.pk).update(next_poll_at=None)
        loop.poll_one(job.pk)
    assert job.state == Job.State.COMPLETED, job.error_message
    sync.sync_wallet(wallet.pk)
    logging.getLogger("studio.test").info("built %r", client_for(api_wallet))

    lines = json_lines()
    retry = [line for line in lines if "retrying" in line["message"]]
    assert retry, [line["message"] for line in lines]
    assert all(line["job_id"] == job.pk and line["wallet"] == "team" for line in retry)
    # Every call about the job (the quote came before it existed: a request's, in real life).
    about_job = ("/audio/queue", "/audio/retrieve", "/audio/complete")
    http = [
        line
        for line in lines
        if line["name"] == "httpx" and any(path in line["message"] for path in about_job)
    ]
    assert http and [line for line in http if line.get("job_id") != job.pk] == []

    raw = json_lines.raw()
    key = account.key.hex()
    for secret in (key, key.removeprefix("0x"), api_key, "SIGN-IN-WITH-X"):
        assert secret.lower() not in raw.lower(), secret
    # Base64 JSON in the logs is only what Venice sent back (httpcore's DEBUG shows response
    # headers, e.g. a 402's public payment terms): nothing signed, no SIWX, no payment.
    for blob in SIWX_LIKE.findall(raw):
        decoded = base64.b64decode(blob + "=" * (-len(blob) % 4)).decode(errors="replace")
        assert "signature" not in decoded.lower(), decoded
