"""Fixtures shared by the whole suite.

The sandbox is a real HTTP server on loopback, started once per test session in a background
thread. Tests isolate themselves by using fresh wallets (``Account.create()``) rather than by
restarting it; tests that switch faults on get them cleared afterwards by ``sandbox``.
"""

from __future__ import annotations

import os

import pytest

# The browser tests drive Playwright's sync API, which runs an event loop in the test's thread;
# the ORM calls tests make between page actions (and the flush after each) are still plain
# synchronous code. Set here once, before any test module is collected.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def sandbox_server():
    from sandbox.server import SandboxServer

    # A 60-second simulated job takes 0.3 s of wall time at this scale.
    server = SandboxServer(host="127.0.0.1", port=0, time_scale=0.005)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server):
    """The running sandbox, with faults and rate-limit overrides cleared after the test."""
    yield sandbox_server
    sandbox_server.clear_faults()
    sandbox_server.reset_config()


@pytest.fixture(autouse=True)
def _no_cluster_outlives_its_test():
    """A test that fails half-way can leave a worker cluster running. It shares the broker and
    the database with the tests after it, so it would take their tasks (saving their audio in
    its own media folder) and fail them too: it is killed when its test ends."""
    yield
    from .reliability_helpers import Cluster

    while Cluster.started:
        cluster = Cluster.started.pop()
        if cluster.alive:
            cluster.kill()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, media_root):
    """Audio written by tests goes to a temporary folder, not the developer's var/media."""
    settings.MEDIA_ROOT = str(media_root)


@pytest.fixture
def venice(settings, sandbox):
    """Point Studio at the sandbox, with a fresh catalogue cache."""
    from django.core.cache import cache

    from jobs import schedule

    settings.VENICE_API_BASE = sandbox.api_url
    settings.CHAIN_RPC_URL = sandbox.rpc_url
    settings.VENICE_IS_SANDBOX = True
    # The sandbox runs 200 times faster than Venice; so does noticing that a job is done.
    settings.POLL_DETECT_SECONDS = 0.25
    cache.clear()
    schedule.forget()
    return sandbox


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="member-pass-123")


@pytest.fixture
def other(django_user_model):
    """Another member of the team."""
    return django_user_model.objects.create_user("other", password="x")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", password="admin-pass-123")


@pytest.fixture
def second_admin(admin_user):
    """Another admin, for what one admin may not do alone (approve their own top-up)."""
    return type(admin_user).objects.create_superuser("second", password="second-pass-123")


@pytest.fixture
def wallet(venice):
    """The team's default x402 wallet, holding 1000 test USDC on the sandbox chain."""
    from wallets import keys

    created = keys.create_evm_wallet("team", make_default=True)
    venice.faucet(created.address, "1000")
    return created


@pytest.fixture
def worker(venice, transactional_db, media_root):
    """A real django-q2 cluster (`manage.py qcluster`) in a subprocess, on the test database.

    Tests using it must commit their data (transactional_db): the cluster is another process.
    """
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from .reliability_helpers import database_url

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "VENICE_API_BASE": venice.api_url,
        "CHAIN_RPC_URL": venice.rpc_url,
        "Q_WORKERS": os.environ.get("Q_WORKERS", "3"),
        "POLL_LOOP_SECONDS": "5",
        "POLL_DETECT_SECONDS": "0.25",
        "MEDIA_ROOT": str(media_root),
    }
    log_path = media_root.parent / "qcluster.log"  # kept with pytest's temporary files
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    time.sleep(1.0)
    yield process
    # The cluster's main process stops its workers itself; signalling the whole group makes
    # each of them exit on its own and the main process wait out its timeout for them.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def staff_client(client, admin_user):
    """The test client signed in as ``admin_user`` with the second factor verified, as after
    entering a TOTP code: what every admin page and staff wallet action requires."""
    from .twofactor_helpers import sign_in_staff

    return sign_in_staff(client, admin_user)
