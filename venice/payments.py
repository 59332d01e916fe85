"""Top-up scheme logic: read Venice's 402 challenge, refuse anything unsafe, sign with x402.

Everything here runs before a payment exists, so every refusal is a ``PaymentRefused`` and
nothing is signed. The rules are §5's payment safety list: requirements only from the
configured origin; only the ``exact`` scheme, USDC, Base; only the ``payTo`` of that same
answer; the amount inside Venice's bounds and the operator's caps. The EIP-3009 authorization
itself is built and encoded by the x402 SDK, never by hand.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from eth_account.signers.local import LocalAccount
from web3 import Web3
from x402 import x402ClientSync
from x402.http.utils import decode_payment_required_header, encode_payment_signature_header
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.mechanisms.evm.exact.v1.client import ExactEvmSchemeV1
from x402.schemas import NoMatchingRequirementsError, PaymentRequired, PaymentRequirements
from x402.schemas.v1 import PaymentRequiredV1, PaymentRequirementsV1

from venice.errors import MalformedResponse, PaymentRefused
from venice.types import (
    USDC_UNIT,
    SignedPayment,
    TopUpPolicy,
    TopUpResult,
    optional_str,
    require,
    to_decimal,
)

USDC_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
BASE_CAIP2 = "eip155:8453"
BASE_V1 = "base"
# Venice's bounds on one top-up (reference/venice-api.md): the smallest its challenge advertises,
# and the largest one payment may carry. Studio's forms and commands check amounts against these.
MIN_TOP_UP_USD = Decimal(5)
MAX_TOP_UP_USD = Decimal(10_000)
# The SDK makes the authorization valid for maxTimeoutSeconds. Venice asks for 300; a
# challenge asking for much longer would leave a signed transfer usable for too long.
MAX_AUTHORIZATION_SECONDS = 3600
# The EIP-712 domain of USDC on Base (§8): a challenge naming another is not Venice's, and a
# signature over another domain would be worthless or, worse, valid somewhere else.
USDC_DOMAIN = ("USD Coin", "2")
# The one transfer this client signs: an EIP-3009 transferWithAuthorization.
TRANSFER_METHOD = "eip3009"

Challenge = PaymentRequired | PaymentRequiredV1
Requirement = PaymentRequirements | PaymentRequirementsV1

# ---------------------------------------------------------------------------------------------
# Origins
# ---------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_problem(url: str) -> str | None:
    """Why ``url`` may not carry Venice traffic, or None if it may: HTTPS anywhere, plain
    HTTP only to this machine (the local sandbox)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return f"{url!r} has no host"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return None
    return f"{url!r} is not HTTPS (plain HTTP is only allowed to a loopback host)"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


def check_challenge_origin(answered_url: str, base_url: str) -> None:
    """Requirements count only if they came from the configured Venice origin itself."""
    problem = origin_problem(answered_url)
    if problem:
        raise PaymentRefused(f"payment requirements from an unsafe origin: {problem}")
    if _origin(answered_url) != _origin(base_url):
        raise PaymentRefused(
            f"payment requirements came from {answered_url}, not the configured {base_url}"
        )


# ---------------------------------------------------------------------------------------------
# Reading the challenge
# ---------------------------------------------------------------------------------------------


def _validate_challenge(data: Any, where: str) -> Challenge:
    if not isinstance(data, dict) or not isinstance(data.get("accepts"), list):
        raise MalformedResponse(f"the top-up 402 {where} has no 'accepts' list", body=data)
    try:
        if data.get("x402Version") == 1:
            return PaymentRequiredV1.model_validate(data)
        return PaymentRequired.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError
        raise MalformedResponse(f"the top-up 402 {where} is not x402: {exc}", body=data) from exc


def parse_challenge(body: Any, header: str | None) -> list[Challenge]:
    """The 402's requirements from its body and its PAYMENT-REQUIRED header (whichever are
    present). Both are returned so the receiver check can see every payTo the answer names."""
    challenges = []
    if isinstance(body, dict) and "accepts" in body:
        challenges.append(_validate_challenge(body, "body"))
    if header:
        try:
            decoded = decode_payment_required_header(header)
        except ValueError as exc:  # bad base64, JSON or schema: all ValueErrors
            raise MalformedResponse(f"the PAYMENT-REQUIRED header is unreadable: {exc}") from exc
        challenges.append(decoded)
    if not challenges:
        raise MalformedResponse("the top-up 402 carries no payment requirements", body=body)
    return challenges


def _is_usdc_on_base(version: int, requirement: Requirement) -> bool:
    # v2 names networks in CAIP-2, v1 by name; the SDK signs each form only in its version.
    network = BASE_CAIP2 if version == 2 else BASE_V1
    return (
        requirement.scheme == "exact"
        and requirement.network == network
        and requirement.asset.lower() == USDC_BASE.lower()
    )


def check_extra(requirement: Requirement) -> None:
    """Refuse a requirement whose EIP-712 domain is not USDC's, or that asks for another
    transfer than EIP-3009 (e.g. Permit2): it is not what Venice asks for."""
    extra = requirement.extra if isinstance(requirement.extra, dict) else {}
    domain = (str(extra.get("name")), str(extra.get("version")))
    if domain != USDC_DOMAIN:
        raise PaymentRefused(
            f"the challenge's token domain is {extra.get('name')!r} version "
            f"{extra.get('version')!r}, not USDC's {USDC_DOMAIN[0]!r} version {USDC_DOMAIN[1]!r}"
        )
    method = extra.get("assetTransferMethod")
    if method is not None and str(method).lower() != TRANSFER_METHOD:
        raise PaymentRefused(
            f"the challenge asks for a {method!r} transfer; this client signs EIP-3009 only"
        )


@dataclass(frozen=True)
class Offer:
    """The one requirement the client will sign, taken from a vetted challenge."""

    challenge: Challenge
    requirement: Requirement
    minimum_atomic: int


def choose_offer(challenges: list[Challenge]) -> Offer:
    """Pick the exact/USDC/Base requirement, refusing if the answer is ambiguous about who
    gets paid: a second accept (or the header) naming another receiver is a substitution, and
    a header that asks for something else than the body (token, network, amount) is refused."""
    candidates = [
        (challenge, requirement)
        for challenge in challenges
        for requirement in challenge.accepts
        if _is_usdc_on_base(challenge.x402_version, requirement)
    ]
    if not candidates:
        offered = "; ".join(
            f"{r.scheme} {r.network} {r.asset}" for c in challenges for r in c.accepts
        )
        raise PaymentRefused(
            f"Venice offered no exact USDC payment on Base (offered: {offered or 'nothing'})"
        )
    receivers = {requirement.pay_to.lower() for _, requirement in candidates}
    if len(receivers) != 1:
        raise PaymentRefused(
            f"the 402 answer names {len(receivers)} different receivers for USDC on Base "
            f"({', '.join(sorted(receivers))}); refusing to pick one"
        )
    offers = [
        sorted(
            (r.scheme, r.network, r.asset.lower(), r.pay_to.lower(), r.get_amount())
            for r in challenge.accepts
        )
        for challenge in challenges
    ]
    if any(other != offers[0] for other in offers[1:]):
        raise PaymentRefused(
            "the 402 answer's PAYMENT-REQUIRED header and body ask for different payments; "
            "refusing to pick one"
        )
    challenge, requirement = candidates[0]
    check_extra(requirement)
    if not Web3.is_address(requirement.pay_to):
        raise PaymentRefused(f"payTo {requirement.pay_to!r} is not an address")
    raw_minimum = requirement.get_amount()
    if not raw_minimum.isdigit() or int(raw_minimum) <= 0:
        raise PaymentRefused(f"the advertised amount {raw_minimum!r} is not a positive integer")
    timeout = requirement.max_timeout_seconds
    if not 0 < timeout <= MAX_AUTHORIZATION_SECONDS:
        raise PaymentRefused(
            f"the challenge asks for an authorization valid {timeout} s "
            f"(this client signs at most {MAX_AUTHORIZATION_SECONDS} s)"
        )
    return Offer(challenge=challenge, requirement=requirement, minimum_atomic=int(raw_minimum))


# ---------------------------------------------------------------------------------------------
# Amount and caps
# ---------------------------------------------------------------------------------------------


def spend_cap(policy: TopUpPolicy) -> Decimal:
    """The most one payment may carry today under this policy."""
    return max(
        Decimal(0),
        min(
            policy.max_per_topup_usd,
            policy.max_per_day_usd - policy.spent_today_usd,
            MAX_TOP_UP_USD,
        ),
    )


def check_amount(amount_usd: Decimal, offer: Offer, policy: TopUpPolicy) -> int:
    """Refuse an amount outside Venice's bounds or the operator's caps; return it in USDC
    base units."""
    if isinstance(amount_usd, float | bool) or not isinstance(amount_usd, Decimal | int):
        raise TypeError("amount_usd must be a Decimal")
    amount = Decimal(amount_usd)
    scaled = amount * USDC_UNIT
    if not amount.is_finite() or amount <= 0 or scaled != scaled.to_integral_value():
        raise PaymentRefused(f"{amount} USD is not a positive amount in whole USDC units")
    atomic = int(scaled)
    minimum = Decimal(offer.minimum_atomic) / USDC_UNIT
    if minimum > MAX_TOP_UP_USD:
        raise PaymentRefused(
            f"Venice asks for at least {minimum} USD, above the {MAX_TOP_UP_USD} USD a single "
            "top-up may carry"
        )
    if minimum > policy.max_per_topup_usd:
        raise PaymentRefused(
            f"Venice's minimum top-up of {minimum} USD is above the per-top-up cap of "
            f"{policy.max_per_topup_usd} USD"
        )
    if atomic < offer.minimum_atomic:
        raise PaymentRefused(f"{amount} USD is below Venice's minimum top-up of {minimum} USD")
    check_caps(amount, policy)
    return atomic


def check_caps(amount: Decimal, policy: TopUpPolicy) -> None:
    """Refuse an amount above the operator's caps: per payment, per day, and the absolute
    maximum. Studio checks this before asking anyone to approve a top-up, too."""
    if amount > MAX_TOP_UP_USD:
        raise PaymentRefused(f"{amount} USD is above the {MAX_TOP_UP_USD} USD maximum top-up")
    if amount > policy.max_per_topup_usd:
        raise PaymentRefused(
            f"{amount} USD is above the per-top-up cap of {policy.max_per_topup_usd} USD"
        )
    if policy.spent_today_usd + amount > policy.max_per_day_usd:
        raise PaymentRefused(
            f"{amount} USD would bring today's top-ups to "
            f"{policy.spent_today_usd + amount} USD, above the daily cap of "
            f"{policy.max_per_day_usd} USD"
        )


# ---------------------------------------------------------------------------------------------
# Signing
# ---------------------------------------------------------------------------------------------


def _priced_challenge(offer: Offer, amount_atomic: int) -> Challenge:
    """A one-accept challenge: the chosen requirement with only its amount changed. Venice
    advertises its minimum; any larger top-up is the same requirement at another amount."""
    if isinstance(offer.challenge, PaymentRequiredV1):
        update = {"max_amount_required": str(amount_atomic)}
        return PaymentRequiredV1(accepts=[offer.requirement.model_copy(update=update, deep=True)])
    priced = offer.requirement.model_copy(update={"amount": str(amount_atomic)}, deep=True)
    return PaymentRequired(
        x402_version=2,
        accepts=[priced],
        resource=offer.challenge.resource,
        extensions=offer.challenge.extensions,
    )


def sign_top_up(
    account: LocalAccount, offer: Offer, amount_atomic: int, policy: TopUpPolicy
) -> SignedPayment:
    """Sign the EIP-3009 transfer with the x402 SDK, under a spend cap taken from the policy
    (the SDK's own last line of defence, kept on rather than disabled)."""
    client = x402ClientSync()
    client.register(BASE_CAIP2, ExactEvmScheme(account))
    client.register_v1(BASE_V1, ExactEvmSchemeV1(account))
    client.set_spend_controls({"max_amount_per_payment": f"${spend_cap(policy):f}"})
    try:
        payload = client.create_payment_payload(_priced_challenge(offer, amount_atomic))
    except NoMatchingRequirementsError as exc:
        raise PaymentRefused(f"the x402 client refused to sign: {exc}") from exc
    authorization = payload.payload["authorization"]
    requirement = offer.requirement
    return SignedPayment(
        header=encode_payment_signature_header(payload),
        amount_usd=Decimal(amount_atomic) / USDC_UNIT,
        amount_atomic=amount_atomic,
        pay_to=requirement.pay_to,
        asset=requirement.asset,
        network=requirement.network,
        payer=account.address,
        nonce=authorization["nonce"],
        valid_before=int(authorization["validBefore"]),
    )


# ---------------------------------------------------------------------------------------------
# Reading the settlement
# ---------------------------------------------------------------------------------------------


def _decode_settlement(header: str | None) -> dict[str, Any]:
    if not header:
        return {}
    try:
        decoded = json.loads(base64.b64decode(header))
    except ValueError:  # bad base64 or JSON
        return {}
    return decoded if isinstance(decoded, dict) else {}


def parse_top_up_result(body: Any, payment_response_header: str | None) -> TopUpResult:
    data = require(body, "data", "top-up")
    # The credit is what matters and is in the body; the on-chain receipt in the header is
    # informational, so a missing or odd header leaves those fields None instead of failing
    # a payment that was credited.
    settlement = _decode_settlement(payment_response_header)
    return TopUpResult(
        payment_id=str(require(data, "paymentId", "top-up")),
        amount_credited=to_decimal(require(data, "amountCredited", "top-up"), "amountCredited"),
        new_balance=to_decimal(require(data, "newBalance", "top-up"), "newBalance"),
        transaction_hash=optional_str(settlement.get("transaction")),
        network=optional_str(settlement.get("network")),
        payer=optional_str(settlement.get("payer")) or optional_str(data.get("walletAddress")),
    )
