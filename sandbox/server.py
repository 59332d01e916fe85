"""The HTTP transport: a threaded server on loopback, and ``SandboxServer``, its handle.

Each connection gets a thread; bodies are written as they are produced, so a long WAV
streams without being held in memory, and the call stays "in flight" until it is sent.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.app import SandboxApp
from sandbox.messages import Request, Response, json_response

logger = logging.getLogger("sandbox")

MAX_REQUEST_BODY = 1024 * 1024


# Venice's client has its own (venice.payments.is_loopback); the sandbox copies Venice
# independently and imports nothing of Studio's, so it keeps this one for its listen check.
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Clients open many connections at once (pollers, concurrency tests): queue them.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "venice-sandbox"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client waits
    # ~40 ms for each answer's body (delayed ACK).
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._write(json_response(411, {"error": "Send a Content-Length body"}))
            return
        declared = self.headers.get("Content-Length") or "0"
        length = int(declared) if declared.isdigit() else -1
        if not 0 <= length <= MAX_REQUEST_BODY:
            self.close_connection = True
            self._write(json_response(413, {"error": "Body missing a valid length or too large"}))
            return
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers=self.headers,
            body=self.rfile.read(length) if length else b"",
            client_ip=self.client_address[0],
            base_url=self.server.app.base_url,
        )
        self._write(self.server.app.dispatch(request))

    def _write(self, response: Response) -> None:
        sent = False
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(response.content_length))
            self.end_headers()
            if isinstance(response.body, bytes):
                self.wfile.write(response.body)
            else:
                for chunk in response.body:
                    self.wfile.write(chunk)
            sent = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        finally:
            for callback in response.after_send:
                callback(sent)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.client_address[0], format % args)


class SandboxServer(SandboxApp):
    """A running (or ready to run) sandbox on a loopback port: the app, with its controls
    (faucet, faults, configure, stats...), served over HTTP."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, time_scale: float = 1.0) -> None:
        if not is_loopback(host):
            raise ValueError(f"the sandbox only listens on loopback, not {host}")
        super().__init__(time_scale)
        self.host = host
        self.port = port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve in a background thread; the socket accepts calls on return."""
        self._httpd = _HttpServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        url_host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{url_host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="sandbox-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join()
        self._httpd = None

    @property
    def rpc_url(self) -> str:
        return self.base_url + "/sandbox/rpc"
