"""The one exception every rule raises to answer a request with an error."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error answer: status, JSON body and extra headers."""

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
        self.body: dict[str, Any] = {"error": error}
        if code is not None:
            self.body["code"] = code
        self.body.update(fields)
        self.headers = headers or {}

    @classmethod
    def with_body(
        cls, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> ApiError:
        """An error whose body is not the usual ``{"error", "code"}`` pair (402 challenges)."""
        error = cls(status, str(body.get("error", "")), headers=headers)
        error.body = body
        return error


def bad_request(error: str, **details: Any) -> ApiError:
    """A 400 schema/option error; ``details`` says which field and why."""
    if details:
        return ApiError(400, error, details=details)
    return ApiError(400, error)
