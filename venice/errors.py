"""Every failure a Venice caller must treat differently has its own exception type.

``error_from_response`` turns an HTTP error answer into one of them; the client raises what it
returns. Callers catch the narrow types (``InsufficientBalance``, ``RateLimited``...) and fall
back to ``VeniceError`` for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

# The 400 codes /x402/top-up answers with when it rejects a signed payment (§5), plus the one a
# payment header earns on any other route. None of them moved funds.
PAYMENT_ERROR_CODES = frozenset(
    {
        "INVALID_PAYMENT_FORMAT",
        "INVALID_PAYMENT",
        "UNSUPPORTED_NETWORK",
        "INVALID_PAYMENT_RECIPIENT",
        "UNSUPPORTED_TOKEN",
        "UNSUPPORTED_SCHEME",
        "INVALID_AMOUNT",
        "INVALID_PAYMENT_PAYER",
        "AMOUNT_TOO_LOW",
        "AMOUNT_TOO_HIGH",
        "PAYMENT_VERIFICATION_FAILED",
        "PAYMENT_HEADER_NOT_ACCEPTED",
        "SETTLEMENT_FAILED",
    }
)


# Where a route puts the machine code of an error (§8): the top-up route in `error` (with the
# human text in `message`), the inference routes in `code` (with the human text in `error`),
# the balance and ledger routes nowhere.
TOPUP_ROUTE = "top-up"
INFERENCE_ROUTE = "inference"
WALLET_ROUTE = "wallet"
_MACHINE_CODE = re.compile(r"^[A-Z][A-Z0-9_]{2,59}$")
# A 429 without Retry-After: Venice's documented default wait for an overloaded model, and a
# fair share of the minute window an x402 route's limit counts.
DEFAULT_RATE_LIMIT_WAIT_S = 30.0


class VeniceError(Exception):
    """Base class. ``status`` is the HTTP status (None for local or network failures)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "local"
        code = f" {self.code}" if self.code else ""
        return f"{self.message} ({where}{code})"


class MalformedResponse(VeniceError):
    """Venice answered with something this client cannot read (truncated JSON, wrong content
    type, a required field missing). The request may or may not have taken effect."""


class InsufficientBalance(VeniceError):
    """402: the wallet or account has too little credit for this request.

    The numbers are present when Venice sent them: below the 0.10 USD admission floor it sends
    all of them; above the floor but below a job's quote it sends none.
    """

    def __init__(
        self,
        message: str,
        *,
        current_balance_usd: Decimal | None = None,
        minimum_balance_usd: Decimal | None = None,
        suggested_top_up_usd: Decimal | None = None,
        minimum_top_up_usd: Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.current_balance_usd = current_balance_usd
        self.minimum_balance_usd = minimum_balance_usd
        self.suggested_top_up_usd = suggested_top_up_usd
        self.minimum_top_up_usd = minimum_top_up_usd


class RateLimited(VeniceError):
    """429: too many requests. ``retry_after`` is in seconds when Venice said how long."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ConcurrencyLimit(RateLimited):
    """429 X402_CONCURRENCY_LIMIT: the wallet already has 5 requests in flight. A subclass of
    RateLimited because backing off fixes both; catch it first to wait for in-flight work."""


class ContentPolicy(VeniceError):
    """422: the prompt was refused (and any charge refunded). Venice may suggest a rewrite."""

    def __init__(self, message: str, *, suggested_prompt: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.suggested_prompt = suggested_prompt


class InvalidRequest(VeniceError):
    """400: the request does not fit the model or the schema. Raised locally by
    ``validate_queue`` too, with ``field`` naming the input to fix and no status."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        self.details = dict(details or {})


class NotFound(VeniceError):
    """404: unknown model, or the media expired or was already deleted."""


class AuthFailed(VeniceError):
    """401 (``code`` is the X402_SIGN_IN_* reason), or a 402 saying no credentials were seen."""


class Forbidden(VeniceError):
    """403: region or privacy restriction, or a wallet reading another wallet's ledger."""


class UpstreamUnavailable(VeniceError):
    """500/502/503/504 or a network failure, after any retries this call is allowed."""


class OutcomeUnknown(UpstreamUnavailable):
    """A request that is not safe to repeat (queue) may have been processed: the connection
    failed after sending, or Venice answered 500/502/504. Reconcile against the ledger; do not
    send it again blindly."""


class PaymentInProgress(VeniceError):
    """409: this signed payment is still settling. Resend the same bytes later."""


class SettlementTimeout(VeniceError):
    """504 SETTLEMENT_TIMEOUT: the payment may still land. Resend the same bytes, or check the
    balance before signing a new one."""


class PaymentFailed(VeniceError):
    """402 SETTLEMENT_FAILED or a 400 payment code: Venice rejected the payment and no funds
    moved. ``code`` says why."""


class PaymentRefused(VeniceError):
    """This client's own safety checks refused to sign. Nothing was signed or sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _decimal_or_none(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _code_and_message(data: Mapping[str, Any], route: str) -> tuple[str | None, Any]:
    """The machine code and the human message, each read where this route puts it."""
    error, code = data.get("error"), data.get("code")
    if route == TOPUP_ROUTE and isinstance(error, str) and _MACHINE_CODE.match(error):
        return error, data.get("message") or error
    code = code if isinstance(code, str) else None
    return code, error or data.get("message")


def _topup_error(status: int, message: str, common: dict[str, Any]) -> VeniceError | None:
    """The top-up route's answers (§8 "Top-up outcomes"), or None for the generic mapping."""
    if status == 409:
        return PaymentInProgress(message, **common)
    if status == 504 or common["code"] == "SETTLEMENT_TIMEOUT":
        return SettlementTimeout(message, **common)
    if status in (400, 401, 403) or common["code"] == "SETTLEMENT_FAILED":
        # Refused for good: the same bytes get the same answer, so they are never sent again.
        return PaymentFailed(message, **common)
    return None


def error_from_response(
    status: int,
    body: Any,
    *,
    retry_after: float | None = None,
    text: str = "",
    route: str = INFERENCE_ROUTE,
) -> VeniceError:
    """Map an error answer to the exception a caller must handle.

    ``body`` is the decoded JSON (anything else when the answer was not JSON, e.g. a proxy's
    HTML page); ``text`` is a short excerpt of the raw answer for the message in that case.
    ``route`` says where the answer puts its code (TOPUP_ROUTE, INFERENCE_ROUTE, WALLET_ROUTE).
    """
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code, raw_message = _code_and_message(data, route)
    raw_message = raw_message or text.strip()[:200]
    message = str(raw_message) if raw_message else f"Venice answered HTTP {status}"
    common: dict[str, Any] = {"status": status, "code": code, "body": body}
    # `details` may be a tree or a plain string (§8): only a mapping can name a field.
    details = data.get("details") if isinstance(data.get("details"), Mapping) else {}

    if route == TOPUP_ROUTE and (mapped := _topup_error(status, message, common)):
        return mapped
    if code == "SETTLEMENT_TIMEOUT":
        return SettlementTimeout(message, **common)
    if code in PAYMENT_ERROR_CODES:
        return PaymentFailed(message, **common)
    if status == 402:
        if "authOptions" in data and data.get("reason") != "insufficient_balance":
            return AuthFailed("Venice saw no usable credentials on this request", **common)
        return InsufficientBalance(
            message,
            current_balance_usd=_decimal_or_none(data.get("currentBalanceUsd")),
            minimum_balance_usd=_decimal_or_none(data.get("minimumBalanceUsd")),
            suggested_top_up_usd=_decimal_or_none(data.get("suggestedTopUpUsd")),
            minimum_top_up_usd=_decimal_or_none(data.get("minimumTopUpUsd")),
            **common,
        )
    if status == 429:
        cls = ConcurrencyLimit if code == "X402_CONCURRENCY_LIMIT" else RateLimited
        return cls(message, retry_after=retry_after, **common)
    if status == 401:
        return AuthFailed(message, **common)
    if status == 403:
        return Forbidden(message, **common)
    if status == 404:
        return NotFound(message, **common)
    if status == 409:
        return PaymentInProgress(message, **common)
    if status == 422:
        suggested = data.get("suggested_prompt") or details.get("suggested_prompt")
        return ContentPolicy(
            message, suggested_prompt=suggested if isinstance(suggested, str) else None, **common
        )
    if status in (400, 413, 415):
        field = details.get("field")
        return InvalidRequest(
            message, field=field if isinstance(field, str) else None, details=details, **common
        )
    if status >= 500:
        return UpstreamUnavailable(message, **common)
    return VeniceError(message, **common)
