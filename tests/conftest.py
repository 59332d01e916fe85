"""Fixtures shared by the whole suite.

The sandbox is a real HTTP server on loopback, started once per test session in a background
thread. Tests isolate themselves by using fresh wallets (``Account.create()``) rather than by
restarting it; tests that switch faults on get them cleared afterwards by ``sandbox``.
"""

from __future__ import annotations

import pytest

from sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server():
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
