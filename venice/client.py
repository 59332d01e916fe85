"""VeniceClient: the transport layer, on top of the types, validation, SIWX and payment logic.

Retries follow one rule: repeat a request only when repeating it cannot do anything twice.
Reads (models, quote, retrieve, complete, balance, transactions, top-up discovery) retry on
429, 5xx and network errors. ``queue`` charges the wallet, so it retries only when Venice
provably did not take the job (429, 503 at capacity, or no connection was ever made); after a
timeout or a 500 it raises ``OutcomeUnknown`` so the caller can reconcile. ``send_payment``
never retries: the caller owns that loop and resends the stored bytes.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

import httpx

from venice.auth import ApiKeyAuth, WalletAuth
from venice.errors import (
    DEFAULT_RATE_LIMIT_WAIT_S,
    INFERENCE_ROUTE,
    TOPUP_ROUTE,
    WALLET_ROUTE,
    AuthFailed,
    InsufficientBalance,
    MalformedResponse,
    OutcomeUnknown,
    PaymentFailed,
    RateLimited,
    UpstreamUnavailable,
    VeniceError,
    error_from_response,
    parse_retry_after,
)
from venice.payments import (
    check_amount,
    check_challenge_origin,
    choose_offer,
    origin_problem,
    parse_challenge,
    parse_top_up_result,
    sign_top_up,
)
from venice.types import (
    AudioResult,
    Balance,
    Closing,
    LedgerTransaction,
    Model,
    ModelSpec,
    Processing,
    QueueOptions,
    SignedPayment,
    TopUpPolicy,
    TopUpResult,
    require,
    to_decimal,
    to_str,
)
from venice.validation import validate_queue

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.venice.ai/api/v1"
PAYMENT_HEADER = "PAYMENT-SIGNATURE"
# Error bodies are small JSON; cap what we read so a misbehaving proxy cannot make us buffer
# an arbitrary page.
MAX_ERROR_BODY = 64 * 1024


class Retry(Enum):
    SAFE = "safe"  # idempotent: retry 429, 5xx and network errors
    UNPROCESSED = "unprocessed"  # retry only when Venice provably did not act on it
    NEVER = "never"


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 429 (rate or concurrency limit) and 503 (model at capacity) are refusals before any work.
UNPROCESSED_STATUSES = frozenset({429, 503})
# Failures raised before a byte of the request left this machine.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Pacer(Protocol):
    """Keeps the x402 routes' own per-wallet limits (balance 30/min, transactions 20/min),
    which answer 429 with no Retry-After: ``wait`` blocks until a call to ``route`` may go (or
    raises ``RateLimited``), ``limited`` is told when Venice answered 429 anyway."""

    def wait(self, route: str) -> None: ...

    def limited(self, route: str) -> None: ...


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process, shared by every client: building one loads the CA
    bundle, which costs tens of milliseconds, and Studio makes a client per job."""
    return httpx.create_ssl_context()


def _decode_json(content: bytes) -> Any:
    return json.loads(content, parse_float=Decimal)


class VeniceClient(Closing):
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        auth: WalletAuth | ApiKeyAuth | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        *,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retry_after_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        pacer: Pacer | None = None,
    ) -> None:
        """``max_retry_after_s``: if Venice asks us to wait longer than this, raise
        ``RateLimited`` at once so a worker can reschedule rather than block. ``sleep`` is
        injectable so tests do not wait."""
        problem = origin_problem(base_url)
        if problem:
            raise ValueError(problem)
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._pacer = pacer
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=timeout,
            verify=tls_context(),
            transport=transport,
            # A redirect could move us to another origin; Venice's API never redirects.
            follow_redirects=False,
        )

    # -----------------------------------------------------------------------------------------
    # Lifecycle
    # -----------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"VeniceClient({self.base_url!r}, auth={self.auth!r})"

    # -----------------------------------------------------------------------------------------
    # Audio
    # -----------------------------------------------------------------------------------------

    def models(self, type: str = "music") -> list[Model]:
        body = self._json(self._send("GET", "/models", params={"type": type}, retry=Retry.SAFE))
        data = require(body, "data", "models")
        if not isinstance(data, list):
            raise MalformedResponse("models: 'data' is not a list", body=body)
        return [Model.from_api(entry) for entry in data]

    def quote(
        self, model: str, duration_seconds: int | None = None, character_count: int | None = None
    ) -> Decimal:
        """The USD price of one job. Quoting needs no credentials, so none are sent."""
        payload: dict[str, Any] = {"model": model}
        if duration_seconds is not None:
            payload["duration_seconds"] = duration_seconds
        if character_count is not None:
            payload["character_count"] = character_count
        body = self._json(self._send("POST", "/audio/quote", json=payload, retry=Retry.SAFE))
        return to_decimal(require(body, "quote", "quote"), "quote")

    def queue(self, model: str, options: QueueOptions, *, spec: ModelSpec | None = None) -> str:
        """Submit a job and return its queue_id. With ``spec`` the request is validated
        locally first (``InvalidRequest`` with ``field``, no network call)."""
        payload = validate_queue(spec, model, options) if spec is not None else options.body(model)
        response = self._send(
            "POST", "/audio/queue", json=payload, auth=self._require_auth(), retry=Retry.UNPROCESSED
        )
        body = self._json(response)
        return to_str(require(body, "queue_id", "queue"), "queue_id")

    def retrieve(
        self, model: str, queue_id: str, delete_media_on_completion: bool = False
    ) -> Processing | AudioResult:
        """Poll a job. Finished audio comes back as an open ``AudioResult``: stream it to
        storage and close it (or use ``with``)."""
        payload: dict[str, Any] = {"model": model, "queue_id": queue_id}
        if delete_media_on_completion:
            payload["delete_media_on_completion"] = True
        response = self._send(
            "POST",
            "/audio/retrieve",
            json=payload,
            auth=self._require_auth(),
            # A retry after a lost answer would find the media already deleted.
            retry=Retry.UNPROCESSED if delete_media_on_completion else Retry.SAFE,
            stream=True,
        )
        content_type = response.headers.get("content-type", "").lower()
        if "json" in content_type:
            body = self._json(response)
            if isinstance(body, Mapping) and body.get("status") == "PROCESSING":
                return Processing.from_api(body)
            raise MalformedResponse(
                "retrieve answered JSON that is neither audio nor progress",
                status=response.status_code,
                body=body,
            )
        if content_type.startswith(("audio/", "application/octet-stream")):
            return AudioResult(response)
        response.close()
        raise MalformedResponse(
            f"retrieve answered {content_type or 'no content type'}, not audio",
            status=response.status_code,
        )

    def complete(self, model: str, queue_id: str) -> bool:
        """Delete the stored media once the bytes are saved."""
        response = self._send(
            "POST",
            "/audio/complete",
            json={"model": model, "queue_id": queue_id},
            auth=self._require_auth(),
            retry=Retry.SAFE,
        )
        return require(self._json(response), "success", "complete") is True

    # -----------------------------------------------------------------------------------------
    # Wallet credit
    # -----------------------------------------------------------------------------------------

    def balance(self) -> Balance:
        wallet = self._require_wallet()
        response = self._send(
            "GET",
            f"/x402/balance/{wallet.address}",
            auth=wallet,
            retry=Retry.SAFE,
            route=WALLET_ROUTE,
            paced="balance",
        )
        return Balance.from_api(require(self._json(response), "data", "balance"))

    def transactions(
        self,
        page_size: int = 100,
        stop_at: str | None = None,
        *,
        offset: int = 0,
        on_page: Callable[[list[LedgerTransaction], int, bool], None] | None = None,
    ) -> list[LedgerTransaction]:
        """The ledger, newest first as Venice orders it: all of it, or with ``stop_at`` (the id
        of the newest row the caller already has) only the pages down to that row.

        ``offset`` starts further down (resuming an interrupted read); ``on_page(rows,
        next_offset, has_more)`` sees each page as it arrives, so a caller can keep what it
        has read when a later page fails.

        Rows can arrive while we page (new rows push old ones to later offsets), so a row may
        be seen twice; it is kept once, where it was first seen.
        """
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be between 1 and 100")
        wallet = self._require_wallet()
        seen: dict[str, LedgerTransaction] = {}
        while True:
            response = self._send(
                "GET",
                f"/x402/transactions/{wallet.address}",
                params={"limit": page_size, "offset": offset},
                auth=wallet,
                retry=Retry.SAFE,
                route=WALLET_ROUTE,
                paced="transactions",
            )
            data = require(self._json(response), "data", "transactions")
            rows = require(data, "transactions", "transactions")
            if not isinstance(rows, list):
                raise MalformedResponse("transactions: 'transactions' is not a list", body=data)
            page = [LedgerTransaction.from_api(row) for row in rows]
            for entry in page:
                seen.setdefault(entry.id, entry)
            pagination = data.get("pagination")
            has_more = isinstance(pagination, Mapping) and pagination.get("hasMore") is True
            # An empty page that claims more would loop forever.
            has_more = has_more and bool(rows)
            offset += len(rows)
            if on_page is not None:
                on_page(page, offset, has_more)
            if not has_more or (stop_at is not None and stop_at in seen):
                break
        return list(seen.values())

    def top_up(self, amount_usd: Decimal, policy: TopUpPolicy) -> SignedPayment:
        """Discover Venice's payment requirements, check them and the amount against the
        safety rules and the policy, and sign. Sends nothing: persist the result, then call
        ``send_payment(result.header)``.

        Check ``balance()`` first if an earlier payment's outcome is unknown
        (SettlementTimeout): it may still land.
        """
        wallet = self._require_wallet()
        response = self._send(
            "POST",
            "/x402/top-up",
            retry=Retry.SAFE,
            expect_statuses=(402,),
            stream=True,
            route=TOPUP_ROUTE,
        )
        if response.status_code != 402:
            response.close()
            raise MalformedResponse(
                f"top-up discovery answered {response.status_code}, expected 402",
                status=response.status_code,
            )
        check_challenge_origin(str(response.url), self.base_url)
        body = self._json_lenient(response)
        offer = choose_offer(parse_challenge(body, response.headers.get("PAYMENT-REQUIRED")))
        amount_atomic = check_amount(amount_usd, offer, policy)
        return sign_top_up(wallet.account, offer, amount_atomic, policy)

    def send_payment(self, payment_header: str) -> TopUpResult:
        """Send (or resend) a signed top-up, byte for byte. Never retried here and never
        re-signed: PaymentInProgress and SettlementTimeout mean "send the same bytes later"."""
        if not payment_header:
            raise ValueError("payment_header is empty")
        try:
            response = self._send(
                "POST",
                "/x402/top-up",
                headers={PAYMENT_HEADER: payment_header},
                retry=Retry.NEVER,
                route=TOPUP_ROUTE,
            )
        except (InsufficientBalance, AuthFailed) as exc:
            # A bare 402 here means Venice did not take the header as a payment.
            raise PaymentFailed(
                f"Venice did not accept the payment: {exc.message}",
                status=exc.status,
                code=exc.code,
                body=exc.body,
            ) from exc
        return parse_top_up_result(self._json(response), response.headers.get("PAYMENT-RESPONSE"))

    # -----------------------------------------------------------------------------------------
    # Transport
    # -----------------------------------------------------------------------------------------

    def _require_auth(self) -> WalletAuth | ApiKeyAuth:
        if self.auth is None:
            raise ValueError("this call needs credentials: pass auth=WalletAuth(...) or ApiKeyAuth")
        return self.auth

    def _require_wallet(self) -> WalletAuth:
        if not isinstance(self.auth, WalletAuth):
            raise ValueError("wallet credit calls need auth=WalletAuth(private_key)")
        return self.auth

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter, so several workers that failed together do not retry in
        step."""
        ceiling = min(self._max_backoff_s, self._backoff_s * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _send(
        self,
        method: str,
        path: str,
        *,
        retry: Retry,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        stream: bool = False,
        expect_statuses: Collection[int] = (),
        route: str = INFERENCE_ROUTE,
        paced: str | None = None,
    ) -> httpx.Response:
        """One logical request, with the retries ``retry`` allows. Returns a response below
        400 (or with a status in ``expect_statuses``); raises the mapped VeniceError.

        ``route`` says how its error bodies read; ``paced`` names the x402 limit the pacer
        keeps for it. Only 429, 5xx and network errors are ever repeated: a 400, 401, 402 or
        403 answers the same way every time and counts against Venice's error budget."""
        attempt = 0
        while True:
            if paced and self._pacer is not None:
                self._pacer.wait(paced)
            request = self._http.build_request(
                method, path, json=json, params=params, headers=headers
            )
            try:
                response = self._http.send(request, auth=auth, stream=stream)
            except httpx.TransportError as exc:
                not_sent = isinstance(exc, NOT_SENT_ERRORS)
                retryable = retry is Retry.SAFE or (retry is Retry.UNPROCESSED and not_sent)
                if retryable and attempt < self.max_retries:
                    delay = self._backoff(attempt)
                    logger.info(
                        "%s %s failed (%s); retrying in %.2fs",
                        method,
                        path,
                        type(exc).__name__,
                        delay,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                message = f"{method} {path} failed: {type(exc).__name__}: {exc}"
                if retry is not Retry.SAFE and not not_sent:
                    raise OutcomeUnknown(message) from exc
                raise UpstreamUnavailable(message) from exc

            status = response.status_code
            if status < 400 or status in expect_statuses:
                return response
            error = self._error(response, route)
            if status == 429 and route != INFERENCE_ROUTE and error.retry_after is None:
                # The x402 routes' limits answer with no Retry-After and count a minute:
                # asking again within it only earns more 429s, so the caller waits instead.
                if paced and self._pacer is not None:
                    self._pacer.limited(paced)
                if isinstance(error, RateLimited):
                    error.retry_after = DEFAULT_RATE_LIMIT_WAIT_S
                raise error
            retryable = status in (
                UNPROCESSED_STATUSES if retry is Retry.UNPROCESSED else RETRY_STATUSES
            )
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            # A wait longer than max_retry_after_s goes back to the caller to reschedule.
            patient = retry_after is None or retry_after <= self._max_retry_after_s
            if retry is not Retry.NEVER and retryable and patient and attempt < self.max_retries:
                delay = max(self._backoff(attempt), retry_after or 0.0)
                logger.info("%s %s answered %s; retrying in %.2fs", method, path, status, delay)
                self._sleep(delay)
                attempt += 1
                continue
            if retry is Retry.UNPROCESSED and type(error) is UpstreamUnavailable and status != 503:
                raise OutcomeUnknown(
                    error.message, status=error.status, code=error.code, body=error.body
                )
            raise error

    def _error(self, response: httpx.Response, route: str = INFERENCE_ROUTE) -> VeniceError:
        raw = bytearray()
        try:
            for chunk in response.iter_bytes():
                raw.extend(chunk)
                if len(raw) >= MAX_ERROR_BODY:
                    break
        except httpx.HTTPError:
            pass  # a truncated error body still has a status worth mapping
        finally:
            response.close()
        try:
            body = _decode_json(bytes(raw))
        except ValueError:
            body = None
        return error_from_response(
            response.status_code,
            body,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            text=bytes(raw[:500]).decode("utf-8", "replace"),
            route=route,
        )

    def _read(self, response: httpx.Response) -> bytes:
        try:
            return response.read()
        except httpx.HTTPError as exc:
            raise MalformedResponse(
                f"the answer was cut off: {exc}", status=response.status_code
            ) from exc
        finally:
            response.close()

    def _json(self, response: httpx.Response) -> Any:
        """The body of a success answer, which must be JSON."""
        content_type = response.headers.get("content-type", "")
        content = self._read(response)
        if "json" not in content_type.lower():
            raise MalformedResponse(
                f"expected JSON, got {content_type or 'no content type'}",
                status=response.status_code,
            )
        try:
            return _decode_json(content)
        except ValueError as exc:
            raise MalformedResponse(
                f"the JSON answer is invalid or truncated: {exc}", status=response.status_code
            ) from exc

    def _json_lenient(self, response: httpx.Response) -> Any:
        """A body that may legitimately be empty or non-JSON (the 402 challenge also lives
        in a header)."""
        try:
            return _decode_json(self._read(response))
        except ValueError:
            return None
