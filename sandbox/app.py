"""The Venice API and the sandbox's control API, as plain request -> response functions.

The HTTP transport (``server.py``) turns each HTTP request into a ``Request`` and writes the
``Response`` back, streaming its body. Every Venice route passes the same gates in one fixed
order: payment header misuse, authentication (which spends the SIWX nonce), the wallet's
in-flight cap, the route's rate limit, injected faults, then the 0.10 USD admission floor.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from eth_utils import is_hex_address, to_checksum_address

from sandbox import catalogue, control, payments, siwx
from sandbox.audio import WavStream
from sandbox.chain import LocalChain
from sandbox.config import ServerConfig
from sandbox.errors import ApiError, bad_request, rate_limited
from sandbox.faults import (
    DELETE_FAILED,
    FaultRule,
    FaultTable,
    at_capacity,
    planned_failure,
    refused_at_queue,
    suggested_prompt,
)
from sandbox.limits import CallRecord, ErrorBudget, InFlightGate, RateLimiter, Stats
from sandbox.messages import Request, Response, json_response
from sandbox.money import atomic_from_usd, json_number, usd
from sandbox.mp3 import Mp3Stream
from sandbox.state import Caller, EntryType, Failure, Job, LedgerRow, SandboxState
from sandbox.validation import MediaRequest, parse_media, parse_queue, parse_quote

logger = logging.getLogger("sandbox")

API_PREFIX = "/api/v1"
_AUTHENTICATED = frozenset({"queue", "retrieve", "complete", "balance", "transactions"})
_ADMISSION_CHECKED = frozenset({"queue", "retrieve", "complete"})
# The ServerConfig field holding each limited route's calls per minute.
_RATE_LIMITS = {
    "queue": "queue_per_minute",
    "retrieve": "retrieve_per_minute",
    "balance": "balance_per_minute",
    "transactions": "transactions_per_minute",
    "top-up": "top_up_per_minute",
}
_MODEL_ROUTES = frozenset({"quote", "queue", "retrieve", "complete"})
_X402_ROUTES = frozenset({"balance", "transactions", "top-up"})
_FAULT_MESSAGES = {
    429: ("Too many requests, please slow down", "RATE_LIMIT_EXCEEDED"),
    500: ("Internal server error", None),
    503: ("The model is at capacity. Please try again later.", None),
}
# What an injected status means on the top-up route (reference §8, "Top-up outcomes").
_TOP_UP_FAULTS = {
    400: ("Payment verification failed", "PAYMENT_VERIFICATION_FAILED"),
    402: ("Settlement failed: no funds were moved", "SETTLEMENT_FAILED"),
    503: ("x402 payments are not configured right now", "X402_NOT_CONFIGURED"),
    504: (
        "Settlement timed out; the payment may still land. Check the balance before "
        "signing a new payment.",
        "SETTLEMENT_TIMEOUT",
    ),
}
# The injected top-up answers that refuse the payment: "no funds moved" (reference §8).
_TOP_UP_REFUSALS = frozenset({400, 402})


@dataclass
class _Call:
    """What one Venice call has set up and must undo once its answer is sent."""

    record: CallRecord
    caller: Caller | None = None
    releases: list[Callable[[], None]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


class SandboxApp:
    """Everything the sandbox knows, and the handlers of every route."""

    def __init__(self, time_scale: float) -> None:
        self.initial_config = ServerConfig().replace(time_scale=time_scale)
        self.config = self.initial_config
        self.base_url = ""
        self.chain = LocalChain()
        self.state = SandboxState()
        self.faults = FaultTable()
        self.limiter = RateLimiter()
        self.budget = ErrorBudget()
        self.gate = InFlightGate()
        self.stats_book = Stats()
        self.nonces = siwx.NonceBook()
        self.desk = payments.TopUpDesk(self.chain, self.state, self.faults)
        self._venice_routes = [
            ("GET", "/models", "models", self._models),
            ("POST", "/audio/quote", "quote", self._quote),
            ("POST", "/audio/queue", "queue", self._queue),
            ("POST", "/audio/retrieve", "retrieve", self._retrieve),
            ("POST", "/audio/complete", "complete", self._complete),
            ("GET", "/x402/balance/(?P<wallet>[^/]+)", "balance", self._balance),
            ("GET", "/x402/transactions/(?P<wallet>[^/]+)", "transactions", self._transactions),
            ("POST", "/x402/top-up", "top-up", self._top_up),
        ]
        self._control_routes = [
            (method, path, functools.partial(handler, self))
            for method, path, handler in control.ROUTES
        ]

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    # -- controls (the Python face of /sandbox/...) ----------------------------------------

    def faucet(self, address: str, usdc: Decimal | str) -> str:
        if not is_hex_address(address):
            raise ValueError("address must be a 0x-prefixed EVM address")
        amount = control.positive_usd(usdc, "usdc")
        return self.chain.mint(address, atomic_from_usd(amount))

    def create_api_key(self, amount: Decimal | str | int | float) -> str:
        value = usd(control.decimal_of(amount, "usd"))
        if value < 0:
            raise ValueError("usd must not be negative")
        return self.state.create_api_key(value)

    def set_fault(
        self,
        route: str,
        *,
        status: int | None = None,
        rate: float = 1.0,
        count: int | None = None,
        delay_ms: int = 0,
        settlement_timeout: bool = False,
        code: str | None = None,
        mode: str | None = None,
    ) -> None:
        self.faults.set(
            FaultRule(route, status, rate, count, delay_ms, settlement_timeout, code, mode)
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure(self, **overrides: Any) -> ServerConfig:
        self.config = self.config.replace(**overrides)
        return self.config

    def reset_config(self) -> ServerConfig:
        """Back to the constructor's settings, with fresh rate-limit windows."""
        self.config = self.initial_config
        self.limiter.forget()
        self.budget.forget()
        return self.config

    def stats(self, wallet: str | None = None) -> dict[str, Any]:
        return self.stats_book.snapshot(wallet)

    def append_ledger(
        self,
        wallet: str,
        kind: str,
        amount: Decimal | str,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> LedgerRow:
        """Write a row into a wallet's Venice ledger (and move its balance) behind its back."""
        if not is_hex_address(wallet):
            raise ValueError("wallet must be a 0x-prefixed EVM address")
        try:
            entry_type = EntryType(kind)
        except ValueError:
            raise ValueError(f"type must be one of {', '.join(EntryType)}") from None
        value = control.positive_usd(amount, "amount")
        return self.state.post(
            Caller(wallet=wallet).owner, entry_type, value, request_id, model_id, time.monotonic()
        )

    # -- dispatch --------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        allowed_methods: set[str] = set()
        if request.path.startswith(API_PREFIX + "/"):
            for method, pattern, route, handler in self._venice_routes:
                match = re.fullmatch(pattern, request.path[len(API_PREFIX) :])
                if match and method == request.method:
                    return self._serve_venice(route, handler, request, match.groupdict())
                if match:
                    allowed_methods.add(method)
        elif request.path.startswith("/sandbox/"):
            for method, path, control in self._control_routes:
                if request.path[len("/sandbox") :] == path:
                    if method == request.method:
                        return self._serve_control(control, request)
                    allowed_methods.add(method)
        if allowed_methods:
            return json_response(
                405, {"error": "Method not allowed"}, {"Allow": ", ".join(sorted(allowed_methods))}
            )
        return json_response(404, {"error": f"No route for {request.method} {request.path}"})

    def _serve_control(self, control: Callable[[Request], Any], request: Request) -> Response:
        try:
            return json_response(200, control(request))
        except ApiError as error:
            return json_response(error.status, error.body, error.headers)
        except (ValueError, TypeError) as error:
            return json_response(400, {"error": str(error)})
        except Exception:
            logger.exception("sandbox control %s failed", request.path)
            return json_response(500, {"error": "Internal server error"})

    def _serve_venice(
        self,
        route: str,
        handler: Callable[..., Response],
        request: Request,
        params: dict[str, str],
    ) -> Response:
        call = _Call(self.stats_book.begin(route))
        config = self.config
        buckets = self._budget_buckets(route, request)
        try:
            if self.budget.exhausted(buckets, config.error_budget):
                raise rate_limited()
            self._pass_gates(route, request, call, config)
            response = handler(request, call.caller, config, **params)
        except ApiError as error:
            response = json_response(error.status, error.body_for(route), error.headers)
        except Exception:
            logger.exception("sandbox failed on %s %s", request.method, request.path)
            response = json_response(500, {"error": "Internal server error"})
        for name, value in call.headers.items():
            response.headers.setdefault(name, value)
        if 400 <= response.status < 500 and response.status != 429:
            self.budget.failed(buckets, config.error_budget_window_s)
        self.stats_book.answered(call.record, response.status)

        def finish(sent: bool) -> None:
            for release in call.releases:
                release()
            self.stats_book.finish(call.record)

        response.after_send.append(finish)
        return response

    def _budget_buckets(self, route: str, request: Request) -> list[str]:
        """The error-budget buckets a call counts in: its IP for x402 wallets, its model."""
        buckets = []
        if route in _X402_ROUTES or request.first_header(siwx.SIWX_HEADERS) is not None:
            buckets.append(f"ip:{request.client_ip}")
        if route in _MODEL_ROUTES:
            try:
                model = json.loads(request.body).get("model")
            except (ValueError, AttributeError):
                model = None
            if isinstance(model, str):
                buckets.append(f"model:{model}")
        return buckets

    def _pass_gates(self, route: str, request: Request, call: _Call, config: ServerConfig) -> None:
        if route != "top-up" and request.first_header(payments.PAYMENT_HEADERS) is not None:
            raise ApiError(
                400,
                "Payment headers are only accepted by /x402/top-up",
                code="PAYMENT_HEADER_NOT_ACCEPTED",
            )
        if request.method == "POST" and not _is_json(request):
            raise bad_request("Content-Type must be application/json")
        limit_key = request.client_ip
        if route in _AUTHENTICATED:
            call.caller = self._authenticate(route, request, call)
            limit_key = call.caller.owner
            if call.caller.wallet is not None:
                owner = call.caller.owner
                if not self.gate.enter(owner, config.wallet_max_in_flight):
                    raise ApiError(
                        429,
                        f"At most {config.wallet_max_in_flight} requests may be in "
                        "flight per wallet",
                        code="X402_CONCURRENCY_LIMIT",
                        headers={"Retry-After": "1"},
                    )
                call.releases.append(lambda: self.gate.leave(owner))
        if route in _RATE_LIMITS:
            limit = getattr(config, _RATE_LIMITS[route])
            allowance = self.limiter.check(route, limit_key, limit)
            if route in _X402_ROUTES:
                # The x402 routes' limits say nothing: no code, no Retry-After, no headers.
                if not allowance.allowed:
                    raise rate_limited()
            else:
                call.headers.update(allowance.headers())
                if not allowance.allowed:
                    raise ApiError(
                        429,
                        f"Rate limit exceeded: {limit} requests per minute",
                        code="RATE_LIMIT_EXCEEDED",
                    )
        self._inject_fault(route, request, config)
        if route in _ADMISSION_CHECKED and call.caller and call.caller.wallet:
            balance = self.state.balance(call.caller.owner, time.monotonic())
            if balance < payments.MINIMUM_BALANCE_USD:
                raise payments.insufficient_credit(balance, request.url, self.api_url)

    def _authenticate(self, route: str, request: Request, call: _Call) -> Caller:
        """The wallet of a SIWX header (it wins over a Bearer key), else the API key."""
        header = request.first_header(siwx.SIWX_HEADERS)
        if header is not None:
            wallet = siwx.verify(header, self.nonces)
            self.stats_book.attribute(call.record, wallet)
            return Caller(wallet=wallet)
        authorization = request.headers.get("Authorization")
        if authorization:
            scheme, _, key = authorization.partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not self.state.knows_api_key(key):
                raise ApiError(
                    401, "Authentication failed: invalid API key", code="AUTHENTICATION_FAILED"
                )
            return Caller(api_key=key)
        if route in _X402_ROUTES:
            raise payments.wallet_sign_in_required(request.url)
        raise payments.discovery(request.url, self.api_url)

    def _inject_fault(self, route: str, request: Request, config: ServerConfig) -> None:
        rule = self.faults.on_call(route)
        if rule is None:
            return
        if rule.delay_ms:
            time.sleep(config.scaled(rule.delay_ms / 1000))
        if rule.status is None:
            return
        payment = request.first_header(payments.PAYMENT_HEADERS)
        if (
            route == "top-up"
            and rule.status in _TOP_UP_REFUSALS
            and payment is not None
            and self.desk.has_taken(payment)
        ):
            # A refusal says no funds moved; for a payment already settling or credited that
            # is false (Venice answers it 409 or with its receipt), and a client that believed
            # it would lose track of money Venice credited. The desk answers it as Venice does.
            return
        headers = {"x-sandbox-fault": "injected"}
        if route in _X402_ROUTES and rule.status == 429:
            error = rate_limited()
        elif route == "top-up" and rule.status in _TOP_UP_FAULTS:
            message, code = _TOP_UP_FAULTS[rule.status]
            error = ApiError(rule.status, message, code=rule.code or code)
        else:
            message, code = _FAULT_MESSAGES.get(rule.status, ("Injected sandbox fault", None))
            if rule.status in (429, 503):
                headers["Retry-After"] = "1"
            error = ApiError(rule.status, message, code=rule.code or code)
        error.headers.update(headers)
        if route == "top-up" and rule.status == 400 and payment is not None:
            self.desk.refuse(payment, error)  # a 400 is final: the same bytes stay refused
        raise error

    # -- Venice routes ---------------------------------------------------------------------

    def _models(self, request: Request, caller: None, config: ServerConfig) -> Response:
        return json_response(200, catalogue.listing(request.param("type") or "text"))

    def _quote(self, request: Request, caller: None, config: ServerConfig) -> Response:
        return json_response(200, {"quote": json_number(parse_quote(request.json()))})

    def _queue(self, request: Request, caller: Caller, config: ServerConfig) -> Response:
        audio = parse_queue(request.json())
        if refused_at_queue(audio.prompt):
            # Content policy at queue time: the body's suggested_prompt is optional (§8).
            raise ApiError(422, "The prompt was rejected by the provider's content policy.")
        if at_capacity(audio.prompt):
            raise ApiError(503, _FAULT_MESSAGES[503][0], headers={"Retry-After": "5"})
        now = time.monotonic()
        queue_id = str(uuid.uuid4())
        entry = audio.entry
        seconds = catalogue.audio_seconds(entry, audio.duration_seconds, audio.prompt, audio.speed)
        p80_s = catalogue.p80_execution_s(entry, seconds, len(audio.prompt))
        job = Job(
            queue_id=queue_id,
            owner=caller.owner,
            request=audio,
            audio_seconds=seconds,
            queued_at=now,
            run_s=config.scaled(catalogue.execution_s(p80_s, queue_id, config.fastest_run)),
            p80_s=config.scaled(p80_s),
            media_retention_s=config.scaled(config.media_retention_s),
            failure=planned_failure(audio.prompt),
        )
        if catalogue.charged_on_completion(entry):
            job.reserved = audio.quote()
            job.completion_charge = catalogue.completion_charge(entry, seconds)
            charges = []
        else:
            charges = catalogue.installments(entry, audio.quote())
        self.state.accept(job, charges, now)
        return json_response(
            200, {"model": audio.model_id, "queue_id": queue_id, "status": "QUEUED"}
        )

    def _named_job(
        self, request: Request, caller: Caller, *, retrieve: bool
    ) -> tuple[MediaRequest, Job, float]:
        """The job a retrieve or complete call names, and the moment it was looked up at."""
        media = parse_media(request.json(), retrieve=retrieve)
        now = time.monotonic()
        return media, self.state.job(caller.owner, media.model_id, media.queue_id, now), now

    def _retrieve(self, request: Request, caller: Caller, config: ServerConfig) -> Response:
        media, job, now = self._named_job(request, caller, retrieve=True)
        if not job.finished(now):
            return json_response(
                200,
                {
                    "status": "PROCESSING",
                    "average_execution_time": round(job.p80_s * 1000),
                    "execution_duration": round((now - job.queued_at) * 1000),
                },
            )
        if job.failure is Failure.CONTENT_POLICY:
            raise ApiError(
                422,
                "The prompt was rejected by the provider's content policy. "
                "The charge has been refunded.",
                suggested_prompt=suggested_prompt(job.request.prompt),
            )
        if job.failure is Failure.INFERENCE:
            raise ApiError(500, "Audio generation failed. The charge has been refunded.")
        if not job.media_available(now):
            raise ApiError(404, "Media not found: it has expired or was deleted")
        return self._audio(job, media.delete_media_on_completion, config.audio_scale)

    def _audio(self, job: Job, delete_when_sent: bool, audio_scale: float) -> Response:
        entry, audio = job.request.entry, job.request
        run = entry["sandbox"]
        seed = "\n".join(
            (
                entry["id"],
                audio.prompt,
                audio.lyrics_prompt,
                str(audio.voice),
                str(job.audio_seconds),
            )
        )
        spec = entry["model_spec"]
        mp3 = spec["default_format"] == "mp3"
        stream = (Mp3Stream if mp3 else WavStream)(
            seed, job.audio_seconds * audio_scale, run["sample_rate"], run["channels"]
        )
        headers = {
            "Content-Type": "audio/mpeg" if mp3 else "audio/wav",
            "x-venice-audio-format": spec["default_format"],
            "x-venice-inference-time": f"{job.run_s:.3f}",
            "x-venice-model-id": entry["id"],
            "x-venice-model-name": spec["name"],
        }
        if run["reports_audio_duration"]:  # Seed Audio only (reference §8)
            headers["x-venice-audio-duration"] = f"{job.audio_seconds:g}"
            # The words it voiced; percent-encoded so that any language fits in a header.
            headers["x-venice-audio-subtitle"] = quote(audio.prompt, safe=" ,.!?'")
        response = Response(200, stream.chunks(), stream.content_length, headers)
        if delete_when_sent:

            def delete_once_delivered(sent: bool) -> None:
                if sent:
                    self.state.delete_media(job)

            response.after_send.append(delete_once_delivered)
        return response

    def _complete(self, request: Request, caller: Caller, config: ServerConfig) -> Response:
        _, job, now = self._named_job(request, caller, retrieve=False)
        if not job.finished(now):
            raise bad_request(
                "The request is still processing; retrieve it first", field="queue_id"
            )
        if job.failure is not None or not job.media_available(now):
            raise ApiError(404, "Media not found: it has expired or was deleted")
        if self.faults.fires(DELETE_FAILED):
            return json_response(200, {"success": False})  # the media is still there
        self.state.delete_media(job)
        return json_response(200, {"success": True})

    def _wallet_owner(self, caller: Caller, wallet: str) -> str:
        if not is_hex_address(wallet):
            raise bad_request("The wallet in the path is not an EVM address", field="wallet")
        if caller.wallet is None or caller.wallet.lower() != wallet.lower():
            raise ApiError(403, "The signed-in wallet does not match the requested wallet")
        return caller.owner

    def _balance(
        self, request: Request, caller: Caller, config: ServerConfig, wallet: str
    ) -> Response:
        balance = self.state.balance(self._wallet_owner(caller, wallet), time.monotonic())
        return json_response(
            200,
            {
                "success": True,
                "data": {
                    "walletAddress": to_checksum_address(wallet),
                    "balanceUsd": json_number(balance),
                    "canConsume": balance >= payments.MINIMUM_BALANCE_USD,
                    "minimumTopUpUsd": json_number(payments.MINIMUM_TOP_UP_USD),
                    "suggestedTopUpUsd": json_number(payments.SUGGESTED_TOP_UP_USD),
                },
            },
        )

    def _transactions(
        self, request: Request, caller: Caller, config: ServerConfig, wallet: str
    ) -> Response:
        owner = self._wallet_owner(caller, wallet)
        limit = _query_int(request, "limit", 50, 1, 100)
        offset = _query_int(request, "offset", 0, 0, None)
        rows, has_more, balance = self.state.ledger_page(owner, limit, offset, time.monotonic())
        return json_response(
            200,
            {
                "success": True,
                "data": {
                    "walletAddress": to_checksum_address(wallet),
                    "currentBalance": json_number(balance),
                    "transactions": [row.as_json() for row in rows],
                    "pagination": {"limit": limit, "offset": offset, "hasMore": has_more},
                },
            },
        )

    def _top_up(self, request: Request, caller: None, config: ServerConfig) -> Response:
        header = request.first_header(payments.PAYMENT_HEADERS)
        if header is None:
            raise payments.top_up_required(request.url)
        receipt = self.desk.top_up(header, config)
        return json_response(200, receipt.body, receipt.headers)


def _is_json(request: Request) -> bool:
    """A POST body must be declared JSON. A top-up carries no body, so it may declare none."""
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return not request.body and request.path.endswith("/x402/top-up")
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _query_int(request: Request, name: str, default: int, lowest: int, highest: int | None) -> int:
    raw = request.param(name)
    if raw is None:
        return default
    if (
        not re.fullmatch(r"\d+", raw)
        or int(raw) < lowest
        or (highest is not None and int(raw) > highest)
    ):
        bounds = f"{lowest}..{highest}" if highest is not None else f">= {lowest}"
        raise bad_request(f"{name} must be an integer {bounds}", field=name)
    return int(raw)
