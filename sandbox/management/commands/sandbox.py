"""``python manage.py sandbox``: run the Venice sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import SandboxServer, is_loopback


class Command(BaseCommand):
    help = "Run the local Venice API + x402 + chain simulator (loopback only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
        parser.add_argument("--port", type=int, default=8402)
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="multiplier for every simulated duration (0.05 = twenty times faster)",
        )

    def handle(self, *args: Any, host: str, port: int, time_scale: float, **options: Any) -> None:
        # The sandbox hands out credit and mints money to anyone who asks: never expose it.
        if not is_loopback(host):
            raise CommandError(f"refusing to listen on {host}: the sandbox is loopback-only")
        if time_scale <= 0:
            raise CommandError("--time-scale must be positive")
        server = SandboxServer(host=host, port=port, time_scale=time_scale)
        # Handle both explicitly: a shell's background job inherits an ignored SIGINT, and
        # bin/dev stops its children with SIGTERM. Installed before the banner, which tells
        # a supervising process that it may now stop us.
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        try:
            server.start()
        except OSError as error:
            raise CommandError(f"cannot listen on {host}:{port}: {error}") from None
        self.stdout.write(
            f"Venice sandbox: {server.api_url}  (JSON-RPC {server.rpc_url}, "
            f"time scale {time_scale})"
        )
        self.stdout.write("Press Ctrl-C to stop.")
        try:
            stop.wait()
            self.stdout.write("Stopping the sandbox.")
        finally:
            server.stop()
