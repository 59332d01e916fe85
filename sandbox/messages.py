"""One HTTP exchange as plain data: what the transport hands the app, and what it writes back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sandbox.errors import ApiError


@dataclass
class Request:
    method: str
    path: str
    query: str
    # Any case-insensitive mapping with ``get`` (the transport passes http.client's).
    headers: Any
    body: bytes
    client_ip: str
    base_url: str

    @property
    def url(self) -> str:
        return self.base_url + self.path + (f"?{self.query}" if self.query else "")

    def first_header(self, names: tuple[str, ...]) -> str | None:
        """The header under the first of its ``names`` present (lookups are case-insensitive)."""
        for name in names:
            value = self.headers.get(name)
            if value is not None:
                return value
        return None

    def param(self, name: str) -> str | None:
        values = parse_qs(self.query).get(name)
        return values[0] if values else None

    def json(self, default: Any = None) -> Any:
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except ValueError as error:
            # Venice's schema errors may carry `details` as a plain string, not a tree.
            raise ApiError(400, "Request body is not valid JSON", details=str(error)) from None


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes]
    content_length: int
    headers: dict[str, str] = field(default_factory=dict)
    # Run once the body has been sent (True) or the client went away (False).
    after_send: list[Callable[[bool], None]] = field(default_factory=list)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    return Response(status, data, len(data), headers)
