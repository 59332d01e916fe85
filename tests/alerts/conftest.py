"""Real receivers on loopback for the alert channels: an SMTP server (aiosmtpd) and an HTTP
server that records the JSON webhooks it is sent, and answers what the test tells it to."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils.module_loading import import_string

from alerts import notify, receivers
from alerts.models import Channel


class Receiver(ThreadingHTTPServer):
    """POSTs are recorded as (path, JSON body); each answers `status` (a test sets 500)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[tuple[str, dict]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.posts.append((self.path, json.loads(body or b"{}")))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


@pytest.fixture
def tasks(monkeypatch):
    """The django-q tasks alerts enqueue, run at once in this process (as the worker would run
    them), and listed by name."""
    ran: list[tuple[str, tuple, dict]] = []

    def run(name, *args, **kwargs):
        ran.append((name, args, kwargs))
        import_string(name)(*args, **kwargs)

    monkeypatch.setattr(notify, "async_task", run)
    monkeypatch.setattr(receivers, "async_task", run)
    return ran


@pytest.fixture
def json_channel(db, receiver):
    return Channel.objects.create(name="ops hook", kind=Channel.Kind.JSON, target=receiver.url)


# The browser fixtures of the web layer's tests: a page on the live server.
from tests.web.conftest import browser, page  # noqa: E402, F401
