"""The debug error page is never shown to a member of a shared Studio (issue 17, item 7).

`make run` (bin/dev) is also how a small team tries Studio together, often behind a proxy on the
same host, where every request comes from loopback. So DEBUG is off unless a developer sets it,
and setting it is refused where the settings say the server is shared (studio/settings.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.reliability_helpers import ROOT, answers, free_port, wait_until

SHOW_DEBUG = (
    "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
)


def settings_env(**values: str) -> dict:
    """The environment `make run` gives Django: the shell's, without DEBUG unless set here."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.pop("TRUSTED_PROXIES", None)
    env.pop("ALLOWED_HOSTS", None)
    return {**env, "DJANGO_SETTINGS_MODULE": "studio.settings", **values}


def load_settings(**values: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SHOW_DEBUG],
        cwd=ROOT,
        env=settings_env(**values),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_run_starts_with_debug_off():
    for script in ("bin/dev", "Makefile"):
        assert "DEBUG" not in (ROOT / script).read_text(), f"{script} must not switch DEBUG on"
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_developer_alone_on_loopback_may_switch_it_on():
    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize(
    "shared",
    [
        {"TRUSTED_PROXIES": "127.0.0.1"},  # a proxy in front: many people, one loopback address
        {"ALLOWED_HOSTS": "studio.example.com"},  # reachable under a name others use
        {"ALLOWED_HOSTS": "127.0.0.1,192.168.1.20"},
    ],
)
def test_debug_is_refused_wherever_the_server_is_shared(shared):
    result = load_settings(DEBUG="1", **shared)
    assert result.returncode != 0
    assert "DEBUG is for one developer on loopback" in result.stderr


def test_the_same_shared_settings_without_debug_are_fine():
    result = load_settings(TRUSTED_PROXIES="127.0.0.1", ALLOWED_HOSTS="studio.example.com")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


class Runserver:
    """`manage.py runserver` as bin/dev starts it, on an empty database so a session errs."""

    def __init__(self, tmp_path, **values: str):
        self.port = free_port()
        env = settings_env(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}", **values)
        self.log = open(tmp_path / f"runserver-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        try:
            wait_until(answers(self.base + "/static/studio.css"), 60, what="runserver")
        except AssertionError:
            self.close()
            raise

    def close(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def error_pages(server: Runserver) -> tuple[httpx.Response, httpx.Response]:
    """A 404 (no such page) and a 500 (the session table is missing) as any visitor meets them."""
    missing = httpx.get(server.base + "/no-such-page/", timeout=30)
    broken = httpx.get(server.base + "/login/", cookies={"sessionid": "x" * 32}, timeout=30)
    return missing, broken


@pytest.mark.slow
def test_a_member_of_make_runs_studio_never_sees_the_debug_page(tmp_path):
    server = Runserver(tmp_path)
    try:
        missing, broken = error_pages(server)
        # With DEBUG off, the static files are still served (whitenoise, from the finders).
        for path in ("/static/studio.js", "/static/django_htmx/htmx-2.min.js"):
            assert httpx.get(server.base + path, timeout=30).status_code == 200, path
    finally:
        server.close()
    assert missing.status_code == 404 and broken.status_code == 500
    for page in (missing.text, broken.text):
        for sign in ("Traceback", "DEBUG = True", "URLconf", "SECRET_KEY", "settings.py"):
            assert sign not in page
    assert "Server Error (500)" in broken.text

    # The same server with DEBUG asked for (a developer alone) does show it: the check above
    # is looking at the right thing.
    server = Runserver(tmp_path, DEBUG="1")
    try:
        missing, broken = error_pages(server)
    finally:
        server.close()
    assert "URLconf" in missing.text and "Traceback" in broken.text
