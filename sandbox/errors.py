"""The one exception every rule raises, and how each kind of route words it (reference §8).

Venice puts an error's machine code in different places on different routes, so a rule
raises one ``ApiError`` (status, human message, optional code, extra fields) and the route
kind decides the body:

- top-up: the code is in ``error`` and the human text in ``message``;
- balance and transactions: ``{"error": ...}`` only, no code, and a bad SIWX header is one
  generic 401;
- inference (``/audio/*``) and everything else: ``error`` is the human message, ``code`` is
  added when there is one, and schema errors add ``details``.
"""

from __future__ import annotations

from typing import Any

TOP_UP = "top-up"
WALLET_READS = frozenset({"balance", "transactions"})
# What balance and transactions answer to any present-but-bad SIWX header.
GENERIC_SIWX_ERROR = "Invalid Sign-in-with-x signature"
# The x402 routes' own rate limits (and the error budget) answer this, with no code and no
# Retry-After.
RATE_LIMITED_MESSAGE = "Rate limit exceeded. Please try again later."


class ApiError(Exception):
    """An HTTP error answer: status, message, optional code, extra fields and headers."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(f"{status} {code or ''} {error}".strip())
        self.status = status
        self.message = error
        self.code = code
        self.fields = fields
        self.headers = headers or {}
        # A body given whole (402 challenges): served as is on every route.
        self.fixed_body: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The inference-route shape: ``{"error": message, "code"?: code, **fields}``."""
        if self.fixed_body is not None:
            return self.fixed_body
        body: dict[str, Any] = {"error": self.message}
        if self.code is not None:
            body["code"] = self.code
        body.update(self.fields)
        return body

    def body_for(self, route: str) -> dict[str, Any]:
        """The body as the route ``route`` words it."""
        if self.fixed_body is not None:
            return self.fixed_body
        if route == TOP_UP and self.code is not None:
            return {"error": self.code, "message": self.message, **self.fields}
        if route in WALLET_READS:
            if self.status == 401:
                return {"error": GENERIC_SIWX_ERROR}
            return {"error": self.message}
        return self.body

    @classmethod
    def with_body(
        cls, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> ApiError:
        """An error whose body is not the usual ``{"error", "code"}`` pair (402 challenges)."""
        error = cls(status, str(body.get("error", "")), headers=headers)
        error.fixed_body = body
        return error


def bad_request(error: str, **details: Any) -> ApiError:
    """A 400 schema/option error; ``details`` says which field and why."""
    if details:
        return ApiError(400, error, details=details)
    return ApiError(400, error)


def rate_limited() -> ApiError:
    """The x402 routes' 429: no code, no ``Retry-After``."""
    return ApiError(429, RATE_LIMITED_MESSAGE)
