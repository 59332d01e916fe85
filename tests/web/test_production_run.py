"""A production run: studio.production under gunicorn with PostgreSQL, Redis (broker and cache),
audio on an S3 server (moto, loopback) and two worker clusters; `check --deploy` clean,
`doctor` passing, and a signed-in member generating a job end to end through HTTP.

PostgreSQL only (the production database); skipped on SQLite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess

import httpx
import pytest
from cryptography.fernet import Fernet

from jobs.models import Job
from tests.reliability_helpers import (
    CSRF_TOKEN,
    ROOT,
    WITH_PROCESSES,
    Cluster,
    answers,
    database_url,
    free_port,
    gunicorn_command,
    manage,
    wait_until,
)
from tests.s3_helpers import S3_ENV, make_bucket, s3_server
from wallets import keys

pytestmark = [
    *WITH_PROCESSES,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the production run needs PostgreSQL (DATABASE_URL)",
    ),
]
HOST = "studio.example.com"
BUCKET = "studio-production-audio"
METRICS_TOKEN = secrets.token_urlsafe(24)


class Browser:
    """Requests as they arrive from the TLS proxy: Host, X-Forwarded-Proto, and the cookies a
    browser would send (httpx keeps Secure cookies for https:// URLs only, this is http)."""

    def __init__(self, base: str):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {
            "Host": HOST,
            "X-Forwarded-Proto": "https",
            "Referer": f"https://{HOST}{path}",
            **kwargs.pop("headers", {}),
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.http.request(method, path, headers=headers, **kwargs)
        for cookie in response.headers.get_list("set-cookie"):
            name, value = cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return response

    def submit(self, path: str, **fields: str) -> httpx.Response:
        """Open the form's page, then post the form back with the CSRF token it holds."""
        page = self.request("GET", path)
        assert page.status_code == 200, (path, page.status_code, page.text[:300])
        token = CSRF_TOKEN.search(page.text).group(1)
        return self.request("POST", path, data={**fields, "csrfmiddlewaretoken": token})


@contextlib.contextmanager
def gunicorn(env: dict, log_path):
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            gunicorn_command(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(answers(base + "/healthz", Host=HOST), 30, what="gunicorn")
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_production_end_to_end(settings, venice, member, tmp_path, media_root):
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    encryption_key = Fernet.generate_key().decode()
    settings.STUDIO_ENCRYPTION_KEYS = [encryption_key]  # the wallet is written with it
    wallet = keys.create_evm_wallet("team", make_default=True)
    venice.faucet(wallet.address, "1000")

    with s3_server() as s3_endpoint:
        os.environ.update(S3_ENV)  # boto3 in this process, for make_bucket
        make_bucket(s3_endpoint, BUCKET)
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            **S3_ENV,
            "DJANGO_SETTINGS_MODULE": "studio.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "STUDIO_ENCRYPTION_KEYS": encryption_key,
            "ALLOWED_HOSTS": HOST,
            "TRUSTED_PROXIES": "127.0.0.1",  # the TLS proxy on the same host (docs/deploy.md)
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "CACHE_URL": redis_url,
            "VENICE_API_BASE": venice.api_url,
            "CHAIN_RPC_URL": venice.rpc_url,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": s3_endpoint,
            "METRICS_TOKEN": METRICS_TOKEN,
            "POLL_LOOP_SECONDS": "5",
            "POLL_DETECT_SECONDS": "0.25",
            "LOG_FORMAT": "json",
            "STATIC_ROOT": str(tmp_path / "static"),  # not the checkout's staticfiles/
        }
        deploy = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        static = manage("collectstatic", "--noinput", env=env)
        assert static.returncode == 0, static.stderr
        doctor = manage("doctor", env=env)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "FAIL" not in doctor.stdout and "ok   wallet team: SIWX accepted" in doctor.stdout

        clusters = [
            Cluster(venice, media_root, tmp_path / f"qcluster-{n}.log", env=env).start()
            for n in (1, 2)
        ]
        try:
            with gunicorn(env, tmp_path / "gunicorn.log") as base:
                browser = Browser(base)
                signed_in = browser.submit("/login/", username="member", password="member-pass-123")
                assert signed_in.status_code == 302, signed_in.text[:300]
                submitted = browser.submit(
                    "/",
                    model="elevenlabs-music",
                    prompt="warm lo-fi beat with soft piano",
                    duration_seconds="10",
                )
                assert submitted.status_code == 302, submitted.text[:500]
                job = Job.objects.get(user=member)
                assert submitted.headers["location"] == f"/jobs/{job.pk}/"

                def finished() -> bool:
                    job.refresh_from_db()
                    return not job.is_running

                wait_until(finished, 90, what="the job to finish")
                assert job.state == Job.State.COMPLETED, job.error_message
                page = browser.request("GET", f"/jobs/{job.pk}/")
                assert page.status_code == 200 and "Ready" in page.text
                audio = browser.request(
                    "GET", f"/jobs/{job.pk}/audio/", headers={"Range": "bytes=0-1023"}
                )
                assert audio.status_code == 206 and len(audio.content) == 1024
                assert job.audio_format == "mp3" and audio.content[:2] == b"\xff\xfb"  # a frame
                import boto3

                s3 = boto3.client("s3", endpoint_url=s3_endpoint)
                stored = s3.get_object(Bucket=BUCKET, Key=job.audio.name)["Body"].read()
                assert audio.content == stored[:1024] and len(stored) == job.audio_bytes

                health = {}

                def healthy() -> bool:  # the worker's first sweep writes its heartbeat
                    # Plain HTTP, as a monitor polling the app server directly: not redirected.
                    answer = httpx.get(base + "/healthz", headers={"Host": HOST})
                    health.update(status=answer.status_code, body=answer.text)
                    return answer.status_code == 200

                try:
                    wait_until(healthy, 90, step=1, what="/healthz to answer 200")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}: {health}") from None
                metrics = httpx.get(
                    base + "/metrics",
                    headers={
                        "Host": HOST,
                        "X-Forwarded-Proto": "https",  # the token travels over TLS only
                        "Authorization": f"Bearer {METRICS_TOKEN}",
                    },
                )
                assert metrics.status_code == 200
                assert 'studio_jobs{state="completed"} 1.0' in metrics.text
        finally:
            for cluster in clusters:
                cluster.stop()
