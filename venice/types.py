"""The values the Venice client hands back, and the readers that build them from API JSON.

Money is always ``Decimal``: the client decodes JSON with ``parse_float=Decimal`` so a price never
passes through a float. Readers raise ``MalformedResponse`` (never KeyError or TypeError) when a
field a caller relies on is missing or has the wrong type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self

import httpx

from venice.errors import MalformedResponse, UpstreamUnavailable

USDC_DECIMALS = 6
USDC_UNIT = Decimal(10) ** USDC_DECIMALS

# ---------------------------------------------------------------------------------------------
# Field readers. Required fields raise MalformedResponse; optional catalogue fields degrade to
# None so that one odd entry in /models does not hide the whole catalogue.
# ---------------------------------------------------------------------------------------------


def require(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"{where}: expected a JSON object, got {type(data).__name__}")
    value = data.get(key)
    if value is None:
        raise MalformedResponse(f"{where}: the answer has no {key!r}", body=data)
    return value


def to_decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MalformedResponse(f"{where}: {value!r} is not an amount")
    try:
        # str() first: a float that arrives here (say from a spec cached as plain JSON) becomes
        # the decimal it was written as, 0.35 rather than 0.34999999999999997779...
        result = Decimal(str(value))
    except InvalidOperation:
        raise MalformedResponse(f"{where}: {value!r} is not an amount") from None
    if not result.is_finite():
        raise MalformedResponse(f"{where}: {value!r} is not an amount")
    return result


def optional_decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else to_decimal(value, "")
    except MalformedResponse:
        return None


def optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = optional_decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def to_int(value: Any, where: str) -> int:
    result = optional_int(value)
    if result is None:
        raise MalformedResponse(f"{where}: {value!r} is not an integer")
    return result


def to_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedResponse(f"{where}: {value!r} is not a string")
    return value


def to_datetime(value: Any, where: str) -> datetime:
    """ISO 8601 (with or without Z), or epoch milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise MalformedResponse(f"{where}: {value!r} is not a timestamp")


# ---------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DurationTier:
    name: str
    usd: Decimal | None
    diem: Decimal | None
    min_seconds: int | None
    max_seconds: int | None


@dataclass(frozen=True)
class Pricing:
    """One of Venice's four pricing shapes.

    ``kind`` is ``durations`` (see ``tiers``), ``generation`` (``usd`` per job), ``per_second``
    or ``per_thousand_characters`` (``usd`` per unit). The authoritative price of a job is
    always ``VeniceClient.quote``; this is for display.
    """

    kind: str
    usd: Decimal | None = None
    diem: Decimal | None = None
    tiers: tuple[DurationTier, ...] = ()


PRICING_KINDS = ("durations", "generation", "per_second", "per_thousand_characters")


def _price_pair(value: Any) -> tuple[Decimal | None, Decimal | None]:
    if isinstance(value, Mapping):
        return optional_decimal(value.get("usd")), optional_decimal(value.get("diem"))
    return optional_decimal(value), None


def parse_pricing(raw: Any) -> Pricing | None:
    if not isinstance(raw, Mapping):
        return None
    for kind in PRICING_KINDS:
        if kind not in raw:
            continue
        value = raw[kind]
        if kind == "durations":
            tiers = tuple(
                DurationTier(
                    name=str(name),
                    usd=optional_decimal(tier.get("usd")),
                    diem=optional_decimal(tier.get("diem")),
                    min_seconds=optional_int(tier.get("min_seconds")),
                    max_seconds=optional_int(tier.get("max_seconds")),
                )
                for name, tier in (value.items() if isinstance(value, Mapping) else ())
                if isinstance(tier, Mapping)
            )
            return Pricing(kind=kind, tiers=tiers)
        usd, diem = _price_pair(value)
        return Pricing(kind=kind, usd=usd, diem=diem)
    return None


@dataclass(frozen=True)
class ModelSpec:
    """The form-driving fields of ``model_spec`` (§3), with Venice's documented defaults
    applied, plus ``pricing`` and the untouched ``raw`` dict for anything else."""

    name: str | None = None
    description: str | None = None
    supports_lyrics: bool = False
    lyrics_required: bool = False
    lyrics_character_limit: int = 4096
    supports_lyrics_optimizer: bool = False
    supports_force_instrumental: bool = False
    supports_loop: bool = False
    supports_language_code: bool = False
    supports_speed: bool = False
    default_speed: Decimal | None = None
    min_speed: Decimal | None = None
    max_speed: Decimal | None = None
    voices: tuple[str, ...] = ()
    default_voice: str | None = None
    supports_custom_voice_id: bool = False
    duration_options: tuple[int, ...] = ()
    min_duration: int | None = None
    max_duration: int | None = None
    default_duration: int | None = None
    min_prompt_length: int = 10
    prompt_character_limit: int | None = None
    supported_formats: tuple[str, ...] = ()
    default_format: str | None = None
    offline: bool = False
    beta: bool = False
    voice_changer: bool = False
    pricing: Pricing | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_duration(self) -> bool:
        return bool(self.duration_options) or any(
            v is not None for v in (self.min_duration, self.max_duration, self.default_duration)
        )

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> ModelSpec:
        def flag(key: str) -> bool:
            return raw.get(key) is True

        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        def integers(key: str) -> tuple[int, ...]:
            value = raw.get(key)
            numbers = (optional_int(v) for v in (value if isinstance(value, list) else ()))
            return tuple(n for n in numbers if n is not None)

        return cls(
            name=optional_str(raw.get("name")),
            description=optional_str(raw.get("description")),
            supports_lyrics=flag("supports_lyrics"),
            lyrics_required=flag("lyrics_required"),
            lyrics_character_limit=optional_int(raw.get("lyrics_character_limit")) or 4096,
            supports_lyrics_optimizer=flag("supports_lyrics_optimizer"),
            supports_force_instrumental=flag("supports_force_instrumental"),
            supports_loop=flag("supports_loop"),
            supports_language_code=flag("supports_language_code"),
            supports_speed=flag("supports_speed"),
            default_speed=optional_decimal(raw.get("default_speed")),
            min_speed=optional_decimal(raw.get("min_speed")),
            max_speed=optional_decimal(raw.get("max_speed")),
            voices=strings("voices"),
            default_voice=optional_str(raw.get("default_voice")),
            supports_custom_voice_id=flag("supports_custom_voice_id"),
            duration_options=integers("duration_options"),
            min_duration=optional_int(raw.get("min_duration")),
            max_duration=optional_int(raw.get("max_duration")),
            default_duration=optional_int(raw.get("default_duration")),
            min_prompt_length=optional_int(raw.get("min_prompt_length")) or 10,
            prompt_character_limit=optional_int(raw.get("prompt_character_limit")),
            supported_formats=strings("supported_formats"),
            default_format=optional_str(raw.get("default_format")),
            offline=flag("offline"),
            beta=flag("beta"),
            voice_changer=flag("voice_changer"),
            pricing=parse_pricing(raw.get("pricing")),
            raw=dict(raw),
        )


@dataclass(frozen=True)
class Model:
    id: str
    created: int | None
    spec: ModelSpec

    @classmethod
    def from_api(cls, raw: Any) -> Model:
        spec = raw.get("model_spec") if isinstance(raw, Mapping) else None
        return cls(
            id=to_str(require(raw, "id", "model"), "model id"),
            created=optional_int(raw.get("created")),
            spec=ModelSpec.from_api(spec if isinstance(spec, Mapping) else {}),
        )


# ---------------------------------------------------------------------------------------------
# The queue request
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueOptions:
    """What ``POST /audio/queue`` takes besides the model (§2): the prompt and Venice's options.

    The one place the options are named: validation, the client, Studio's job, form, library and
    command all read them from here, so a new Venice option is a field here (and its rule in
    ``validate_queue``). None leaves an option out of the body, so Venice applies the model's
    default. The fields are in the order the body sends them.
    """

    prompt: str
    lyrics_prompt: str | None = None
    lyrics_optimizer: bool | None = None
    force_instrumental: bool | None = None
    duration_seconds: int | str | None = None
    voice: str | None = None
    language_code: str | None = None
    speed: float | Decimal | str | None = None
    loop: bool | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every field's name, the prompt first."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> QueueOptions:
        """The options of a queue body (``validate_queue``'s answer), leaving out its model."""
        return cls(**{name: body[name] for name in cls.names() if name in body})

    def given(self) -> dict[str, Any]:
        """The fields that are set, in body order."""
        values = ((name, getattr(self, name)) for name in self.names())
        return {name: value for name, value in values if value is not None}

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body as given, unchecked (``validate_queue`` makes the checked one)."""
        body = {"model": model, **self.given()}
        if isinstance(body.get("speed"), Decimal):
            body["speed"] = float(body["speed"])  # a multiplier: Venice expects a JSON number
        return body


# ---------------------------------------------------------------------------------------------
# Audio lifecycle
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Processing:
    """Retrieve's answer while the job runs. ``average_execution_time_ms`` is Venice's P80
    estimate of the whole job: schedule the next poll from it, not sooner."""

    execution_duration_ms: int
    average_execution_time_ms: int | None

    @classmethod
    def from_api(cls, data: Any) -> Processing:
        return cls(
            execution_duration_ms=to_int(
                require(data, "execution_duration", "retrieve"), "execution_duration"
            ),
            average_execution_time_ms=optional_int(data.get("average_execution_time")),
        )


def _header_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Closing:
    """What holds a connection open: use it as a context manager and it is closed on the way
    out, whatever happens inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AudioResult(Closing):
    """A finished job's audio, still on the wire. Read it with ``iter_bytes`` (never buffered
    whole) and close it; use it as a context manager so the connection is always released."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        headers = response.headers
        self.content_type = headers.get("content-type", "").split(";")[0].strip()
        self.audio_format = headers.get("x-venice-audio-format")
        self.inference_time_s = _header_float(headers.get("x-venice-inference-time"))
        self.model_id = headers.get("x-venice-model-id")
        self.model_name = headers.get("x-venice-model-name")
        self.audio_duration_s = _header_float(headers.get("x-venice-audio-duration"))
        self.content_length = optional_int(headers.get("content-length"))
        self.headers = {k: v for k, v in headers.items() if k.lower().startswith("x-venice-")}

    def iter_bytes(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            yield from self._response.iter_bytes(chunk_size)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"the audio download was interrupted: {exc}") from exc

    def close(self) -> None:
        self._response.close()

    def __repr__(self) -> str:
        return f"AudioResult({self.content_type!r}, model_id={self.model_id!r})"


# ---------------------------------------------------------------------------------------------
# Wallet credit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    wallet_address: str
    balance_usd: Decimal
    can_consume: bool
    minimum_top_up_usd: Decimal | None
    suggested_top_up_usd: Decimal | None
    diem_balance_usd: Decimal | None

    @classmethod
    def from_api(cls, data: Any) -> Balance:
        return cls(
            wallet_address=to_str(require(data, "walletAddress", "balance"), "walletAddress"),
            balance_usd=to_decimal(require(data, "balanceUsd", "balance"), "balanceUsd"),
            can_consume=data.get("canConsume") is True,
            minimum_top_up_usd=optional_decimal(data.get("minimumTopUpUsd")),
            suggested_top_up_usd=optional_decimal(data.get("suggestedTopUpUsd")),
            diem_balance_usd=optional_decimal(data.get("diemBalanceUsd")),
        )


@dataclass(frozen=True)
class LedgerTransaction:
    """One row of the Venice ledger. ``type`` is TOP_UP, CHARGE or REFUND; a request may have
    several CHARGE rows, and its REFUND returns their sum."""

    id: str
    amount: Decimal
    balance_after: Decimal
    type: str
    created_at: datetime
    request_id: str | None
    model_id: str | None

    @classmethod
    def from_api(cls, row: Any) -> LedgerTransaction:
        where = "transaction"
        return cls(
            id=str(require(row, "id", where)),
            amount=to_decimal(require(row, "amount", where), "amount"),
            balance_after=to_decimal(require(row, "balanceAfter", where), "balanceAfter"),
            type=to_str(require(row, "type", where), "type"),
            created_at=to_datetime(require(row, "createdAt", where), "createdAt"),
            request_id=optional_str(row.get("requestId")),
            model_id=optional_str(row.get("modelId")),
        )


def _as_money(value: Any, name: str) -> Decimal:
    # A float cannot hold most cent values exactly; refuse it rather than guess.
    if isinstance(value, float | bool):
        raise TypeError(f"{name} must be a Decimal (or int/str), not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name} must be a non-negative amount, got {value!r}")
    return amount


@dataclass(frozen=True)
class TopUpPolicy:
    """The operator's caps, in USD. ``spent_today_usd`` is what the caller has already topped up
    today (its own ledger), so a new top-up fits the daily cap."""

    max_per_topup_usd: Decimal
    max_per_day_usd: Decimal
    spent_today_usd: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("max_per_topup_usd", "max_per_day_usd", "spent_today_usd"):
            object.__setattr__(self, name, _as_money(getattr(self, name), name))


@dataclass(frozen=True)
class SignedPayment:
    """A signed, not yet sent, top-up. Persist ``to_dict()`` before sending ``header`` and
    resend that exact header until it gets a definite answer: Venice credits it at most once."""

    header: str
    amount_usd: Decimal
    amount_atomic: int
    pay_to: str
    asset: str
    network: str
    payer: str
    nonce: str
    valid_before: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "amount_usd": str(self.amount_usd),
            "amount_atomic": str(self.amount_atomic),
            "pay_to": self.pay_to,
            "asset": self.asset,
            "network": self.network,
            "payer": self.payer,
            "nonce": self.nonce,
            "valid_before": self.valid_before,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedPayment:
        return cls(
            header=data["header"],
            amount_usd=Decimal(data["amount_usd"]),
            amount_atomic=int(data["amount_atomic"]),
            pay_to=data["pay_to"],
            asset=data["asset"],
            network=data["network"],
            payer=data["payer"],
            nonce=data["nonce"],
            valid_before=int(data["valid_before"]),
        )


@dataclass(frozen=True)
class TopUpResult:
    """Venice's answer to a settled top-up. The on-chain fields come from the PAYMENT-RESPONSE
    header and are None if Venice left it out."""

    payment_id: str
    amount_credited: Decimal
    new_balance: Decimal
    transaction_hash: str | None
    network: str | None
    payer: str | None
