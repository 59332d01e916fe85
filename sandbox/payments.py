"""x402 wallet credit: top-up requirements, checking a signed payment, settling it once.

Payloads are x402 v2 "exact" EVM payments (EIP-3009 ``transferWithAuthorization`` of USDC on
Base), decoded with the x402 SDK's own header helpers so whatever the SDK signs is accepted.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils import is_hex_address, to_checksum_address
from x402.http.utils import (
    decode_payment_signature_header,
    encode_payment_required_header,
    encode_payment_response_header,
)
from x402.mechanisms.evm.types import ExactEIP3009Authorization, ExactEIP3009Payload
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse

from sandbox import siwx
from sandbox.chain import (
    USDC_ADDRESS,
    USDC_NAME,
    USDC_VERSION,
    ChainRevert,
    LocalChain,
    verify_eip3009_signature,
)
from sandbox.config import ServerConfig
from sandbox.errors import ApiError
from sandbox.faults import CREDITED_CONFLICT, SETTLEMENT_TIMEOUT, FaultTable
from sandbox.money import atomic_from_usd, json_number, usd_from_atomic
from sandbox.state import Caller, EntryType, SandboxState

PAY_TO = to_checksum_address("0x2670b922ef37c7df47158725c0cc407b5382293f")
BASE_NETWORK = "eip155:8453"
# A second rail so clients must pick Base themselves. The sandbox cannot settle it.
SOLANA_NETWORK = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
# Other routes' 402 challenges name the Solana rail by its bare name (reference §8).
SOLANA_BARE_NETWORK = "solana"
SOLANA_USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SOLANA_PAY_TO = "VeniceSandboxSo1anaReceiver1111111111111111"  # placeholder, not a real account
PAYMENT_HEADERS = ("PAYMENT-SIGNATURE", "X-402-Payment", "X-PAYMENT")
PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED"
PAYMENT_RESPONSE_HEADER = "PAYMENT-RESPONSE"

MINIMUM_BALANCE_USD = Decimal("0.10")
MINIMUM_TOP_UP_USD = Decimal(5)
SUGGESTED_TOP_UP_USD = Decimal(10)
MAXIMUM_TOP_UP_USD = Decimal(10_000)
MAX_TIMEOUT_SECONDS = 300
# A payment must stay valid a little longer than it takes to land on chain.
VALID_BEFORE_MARGIN_S = 6

_DIGITS = re.compile(r"\d+")
_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def rails(amount: Decimal, solana_network: str = SOLANA_NETWORK) -> list[PaymentRequirements]:
    """One requirement per payment rail, each asking for ``amount`` USD."""
    alike = {
        "scheme": "exact",
        "amount": str(atomic_from_usd(amount)),
        "max_timeout_seconds": MAX_TIMEOUT_SECONDS,
    }
    return [
        PaymentRequirements(network=network, asset=asset, pay_to=pay_to, extra=extra, **alike)
        for network, asset, pay_to, extra in (
            (solana_network, SOLANA_USDC, SOLANA_PAY_TO, {"feePayer": SOLANA_PAY_TO}),
            (BASE_NETWORK, USDC_ADDRESS, PAY_TO, {"name": USDC_NAME, "version": USDC_VERSION}),
        )
    ]


def _challenge(
    amount: Decimal, error: str, resource_url: str, *, top_up: bool = False
) -> PaymentRequired:
    return PaymentRequired(
        x402_version=2,
        error=error,
        accepts=rails(amount, SOLANA_NETWORK if top_up else SOLANA_BARE_NETWORK),
        resource={"url": resource_url, "mimeType": "application/json"},
    )


def top_up_required(resource_url: str) -> ApiError:
    """The 402 for ``/x402/top-up`` without payment: its amount is the minimum top-up."""
    required = _challenge(MINIMUM_TOP_UP_USD, "Payment required", resource_url, top_up=True)
    return ApiError.with_body(
        402,
        required.model_dump(by_alias=True, exclude_none=True),
        {PAYMENT_REQUIRED_HEADER: encode_payment_required_header(required)},
    )


def discovery(resource_url: str, api_url: str) -> ApiError:
    """The 402 for a request with no credentials at all: how to pay, and how to sign in."""
    required = _challenge(SUGGESTED_TOP_UP_USD, "Authentication required", resource_url)
    body = required.model_dump(by_alias=True, exclude_none=True)
    body["authOptions"] = {
        "apiKey": {"header": "Authorization", "scheme": "Bearer"},
        "siwx": siwx.challenge(),
        "x402": {
            "topUpUrl": f"{api_url}/x402/top-up",
            "balanceUrl": f"{api_url}/x402/balance/{{walletAddress}}",
            "minimumBalanceUsd": json_number(MINIMUM_BALANCE_USD),
            "minimumTopUpUsd": json_number(MINIMUM_TOP_UP_USD),
            "suggestedTopUpUsd": json_number(SUGGESTED_TOP_UP_USD),
        },
    }
    return ApiError.with_body(
        402, body, {PAYMENT_REQUIRED_HEADER: encode_payment_required_header(required)}
    )


def wallet_sign_in_required(resource_url: str) -> ApiError:
    """Balance and transactions without any header: a 402 whose ``accepts`` is empty.

    Nothing can be bought there; the caller has to sign in with its wallet (reference §8).
    """
    required = PaymentRequired(
        x402_version=2,
        error="Sign-in-with-x required",
        accepts=[],
        resource={"url": resource_url, "mimeType": "application/json"},
    )
    return ApiError.with_body(
        402,
        required.model_dump(by_alias=True, exclude_none=True),
        {PAYMENT_REQUIRED_HEADER: encode_payment_required_header(required)},
    )


def insufficient_credit(balance: Decimal, resource_url: str, api_url: str) -> ApiError:
    """The 402 for a wallet under the 0.10 USD floor."""
    required = _challenge(SUGGESTED_TOP_UP_USD, "Payment required", resource_url)
    body = {
        "error": "Payment required",
        "code": "PAYMENT_REQUIRED",
        "reason": "insufficient_balance",
        "currentBalanceUsd": json_number(balance),
        "minimumBalanceUsd": json_number(MINIMUM_BALANCE_USD),
        "suggestedTopUpUsd": json_number(SUGGESTED_TOP_UP_USD),
        "minimumTopUpUsd": json_number(MINIMUM_TOP_UP_USD),
        "topUpInstructions": {
            "url": f"{api_url}/x402/top-up",
            "method": "POST",
            "header": PAYMENT_HEADERS[0],
            "network": BASE_NETWORK,
            "asset": USDC_ADDRESS,
            "payTo": PAY_TO,
            "minimumUsd": json_number(MINIMUM_TOP_UP_USD),
            "maximumUsd": json_number(MAXIMUM_TOP_UP_USD),
        },
        "siwxChallenge": siwx.challenge(),
    }
    return ApiError.with_body(
        402, body, {PAYMENT_REQUIRED_HEADER: encode_payment_required_header(required)}
    )


def _invalid(code: str, message: str) -> ApiError:
    return ApiError(400, message, code=code)


def in_progress(payer: str, nonce: str) -> ApiError:
    """409: the payment is "already processed or still settling" (which, it does not say)."""
    return ApiError(
        409,
        "Payment already processed or still settling. Check the balance before paying again.",
        code="PAYMENT_IN_PROGRESS",
        details={"walletAddress": payer, "nonce": nonce},
    )


@dataclass(frozen=True)
class SignedTopUp:
    """A structurally valid payment: who pays how much, and the signature to settle it."""

    authorization: ExactEIP3009Authorization
    signature: bytes

    @property
    def payer(self) -> str:
        return to_checksum_address(self.authorization.from_address)

    @property
    def value(self) -> int:
        return int(self.authorization.value)

    @property
    def key(self) -> tuple[str, str]:
        """EIP-3009 identifies an authorization by signer and nonce; so does the sandbox."""
        return self.payer, self.authorization.nonce.lower()


def decode(header_value: str) -> SignedTopUp:
    """Parse a payment header and check everything that needs neither clock nor signature."""
    try:
        payment = decode_payment_signature_header(header_value)
    except Exception:  # bad base64, bad JSON or a pydantic ValidationError
        raise _invalid("INVALID_PAYMENT_FORMAT", "payment header is not an x402 payload") from None
    if not isinstance(payment, PaymentPayload):
        raise _invalid("INVALID_PAYMENT_FORMAT", "x402Version 2 payments only")
    accepted = payment.accepted
    if accepted.scheme != "exact":
        raise _invalid("UNSUPPORTED_SCHEME", "only the exact scheme is accepted")
    if accepted.network != BASE_NETWORK:
        raise _invalid("UNSUPPORTED_NETWORK", f"the sandbox settles {BASE_NETWORK} only")
    if accepted.asset.lower() != USDC_ADDRESS.lower():
        raise _invalid("UNSUPPORTED_TOKEN", "only USDC on Base is accepted")
    if accepted.pay_to.lower() != PAY_TO.lower():
        raise _invalid("INVALID_PAYMENT_RECIPIENT", "payTo is not Venice's receiver")

    inner = payment.payload
    if "authorization" not in inner:
        raise _invalid("INVALID_PAYMENT", "only EIP-3009 transferWithAuthorization is accepted")
    if not isinstance(inner["authorization"], dict) or not isinstance(inner.get("signature"), str):
        raise _invalid("INVALID_PAYMENT_FORMAT", "authorization and signature are required")
    authorization = ExactEIP3009Payload.from_dict(inner).authorization
    fields = vars(authorization)
    if not all(isinstance(value, str) for value in fields.values()):
        raise _invalid("INVALID_PAYMENT_FORMAT", "authorization fields must be strings")
    if not is_hex_address(authorization.from_address) or (
        authorization.from_address.lower() in (PAY_TO.lower(), "0x" + "00" * 20)
    ):
        raise _invalid("INVALID_PAYMENT_PAYER", "authorization.from is not a payer wallet")
    if not is_hex_address(authorization.to) or authorization.to.lower() != PAY_TO.lower():
        raise _invalid("INVALID_PAYMENT_RECIPIENT", "authorization.to is not Venice's receiver")
    if not _DIGITS.fullmatch(authorization.value) or authorization.value != accepted.amount:
        raise _invalid("INVALID_AMOUNT", "authorization.value must equal accepted.amount")
    if not (
        _DIGITS.fullmatch(authorization.valid_after)
        and _DIGITS.fullmatch(authorization.valid_before)
        and _BYTES32.fullmatch(authorization.nonce)
        and _HEX.fullmatch(inner["signature"])
    ):
        raise _invalid(
            "INVALID_PAYMENT_FORMAT", "validAfter, validBefore, nonce or signature is malformed"
        )
    value = int(authorization.value)
    if value < atomic_from_usd(MINIMUM_TOP_UP_USD):
        raise _invalid("AMOUNT_TOO_LOW", f"the minimum top-up is {MINIMUM_TOP_UP_USD} USD")
    if value > atomic_from_usd(MAXIMUM_TOP_UP_USD):
        raise _invalid("AMOUNT_TOO_HIGH", f"the maximum top-up is {MAXIMUM_TOP_UP_USD} USD")
    return SignedTopUp(authorization, bytes.fromhex(inner["signature"][2:]))


def _check_signed(payment: SignedTopUp, now: float) -> None:
    authorization = payment.authorization
    if int(authorization.valid_after) > now:
        raise _invalid("INVALID_PAYMENT", "authorization is not valid yet (validAfter)")
    if int(authorization.valid_before) < now + VALID_BEFORE_MARGIN_S:
        raise _invalid("INVALID_PAYMENT", "authorization has expired (validBefore)")
    if not verify_eip3009_signature(authorization, payment.signature):
        raise _invalid("PAYMENT_VERIFICATION_FAILED", "signature does not match the authorization")


@dataclass(frozen=True)
class TopUpReceipt:
    """The 200 answer to a settled top-up, replayed verbatim to any resend."""

    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Settlement:
    payment: SignedTopUp
    payment_id: str
    receipt: TopUpReceipt | None = None


class TopUpDesk:
    """Takes signed payments and credits each at most once, however often it is sent.

    A payment refused with a 400 is refused for good: the same bytes sent again get the
    same answer (reference §8), even once the reason has gone (a validAfter now passed).
    """

    def __init__(self, chain: LocalChain, state: SandboxState, faults: FaultTable) -> None:
        self._chain = chain
        self._state = state
        self._faults = faults
        self._lock = threading.Lock()
        self._settlements: dict[tuple[str, str], _Settlement] = {}
        self._refused: dict[str, ApiError] = {}

    def refuse(self, header_value: str, error: ApiError) -> None:
        """Remember a final refusal of these exact bytes (an injected one included)."""
        with self._lock:
            self._refused[header_value.strip()] = error

    def has_taken(self, header_value: str) -> bool:
        """Whether these exact bytes are a payment settling or settled here. Venice refuses
        only a payment it has not taken: a resend of one it took answers 409 or its receipt
        (reference §5 and §8), so no injected refusal may claim that such a payment moved no
        funds while it lands or has landed."""
        try:
            payment = decode(header_value)
        except ApiError:
            return False
        with self._lock:
            settlement = self._settlements.get(payment.key)
        return settlement is not None and settlement.payment == payment

    def _known(self, payment: SignedTopUp) -> TopUpReceipt | None:
        """The earlier answer for this exact payment; 409 while it is still settling."""
        settlement = self._settlements.get(payment.key)
        if settlement is None or settlement.payment != payment:
            return None
        if settlement.receipt is None:
            raise in_progress(payment.payer, payment.authorization.nonce)
        return settlement.receipt

    def top_up(self, header_value: str, config: ServerConfig) -> TopUpReceipt:
        with self._lock:
            refused = self._refused.get(header_value.strip())
        if refused is not None:
            raise refused
        try:
            return self._top_up(header_value, config)
        except ApiError as error:
            if error.status == 400:
                self.refuse(header_value, error)
            raise

    def _replay(self, payment: SignedTopUp) -> TopUpReceipt | None:
        with self._lock:
            receipt = self._known(payment)
        if receipt is not None and self._faults.fires(CREDITED_CONFLICT):
            raise in_progress(payment.payer, payment.authorization.nonce)
        return receipt

    def _top_up(self, header_value: str, config: ServerConfig) -> TopUpReceipt:
        payment = decode(header_value)
        receipt = self._replay(payment)
        if receipt is not None:
            return receipt
        _check_signed(payment, time.time())
        nonce = bytes.fromhex(payment.authorization.nonce[2:])
        with self._lock:
            receipt = self._known(payment)
            if receipt is None and (
                payment.key in self._settlements
                or self._chain.authorization_used(payment.payer, nonce)
            ):
                raise _invalid("INVALID_PAYMENT", "this authorization nonce was already used")
            if receipt is None:
                settlement = _Settlement(payment, str(uuid.uuid4()))
                self._settlements[payment.key] = settlement
        if receipt is not None:
            return receipt

        if self._faults.fires(SETTLEMENT_TIMEOUT):
            landing_s = config.scaled(config.settle_delay_s + config.late_settlement_s)
            threading.Thread(
                target=self._settle_late, args=(settlement, landing_s), daemon=True
            ).start()
            time.sleep(config.scaled(config.settle_delay_s))
            raise ApiError(
                504,
                "Settlement timed out; the payment may still land. Check the balance "
                "before signing a new payment.",
                code="SETTLEMENT_TIMEOUT",
            )
        time.sleep(config.scaled(config.settle_delay_s))
        return self._settle(settlement)

    def _settle_late(self, settlement: _Settlement, after_s: float) -> None:
        time.sleep(after_s)
        # If it fails nothing moved, and the same payment may simply be sent again.
        with contextlib.suppress(ApiError):
            self._settle(settlement)

    def _settle(self, settlement: _Settlement) -> TopUpReceipt:
        payment = settlement.payment
        try:
            transaction = self._chain.transfer_with_authorization(
                payment.authorization, payment.signature
            )
        except ChainRevert as revert:
            with self._lock:
                del self._settlements[payment.key]
            raise ApiError(402, f"Settlement failed: {revert}", code="SETTLEMENT_FAILED") from None
        amount = usd_from_atomic(payment.value)
        row = self._state.post(
            Caller(wallet=payment.payer).owner,
            EntryType.TOP_UP,
            amount,
            None,
            None,
            time.monotonic(),
        )
        settled = SettleResponse(
            success=True, network=BASE_NETWORK, payer=payment.payer, transaction=transaction
        )
        receipt = TopUpReceipt(
            body={
                "success": True,
                "data": {
                    "walletAddress": payment.payer,
                    "amountCredited": json_number(amount),
                    "newBalance": json_number(row.balance_after),
                    "paymentId": settlement.payment_id,
                },
            },
            headers={PAYMENT_RESPONSE_HEADER: encode_payment_response_header(settled)},
        )
        with self._lock:
            settlement.receipt = receipt
        return receipt
