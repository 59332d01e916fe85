"""Sign-In-With-X: one signed EIP-4361 message per request identifies a wallet.

The header is ``base64(json({address, message, signature, chainId, timestamp?}))``. Every
way it can be wrong has its own ``X402_SIGN_IN_*`` code (reference section 4). A header is
good for exactly one request: its nonce is spent as soon as the signature verifies.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_hex_address, to_checksum_address
from siwe import SiweMessage

from sandbox.chain import CHAIN_ID
from sandbox.errors import ApiError

SIWX_HEADERS = ("SIGN-IN-WITH-X", "X-Sign-In-With-X")
SIWX_DOMAIN = "api.venice.ai"
SIWX_URI = "https://api.venice.ai"
SIWX_STATEMENT = "Sign in to Venice AI"
MAX_MESSAGE_AGE_S = 300
MAX_CLOCK_SKEW_S = 30

_NONCE_LINE = re.compile(r"^Nonce: ?(.*)$", re.MULTILINE)
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")


def _refuse(code: str, message: str) -> ApiError:
    return ApiError(401, message, code=f"X402_SIGN_IN_{code}")


def _timestamp(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class NonceBook:
    """Nonces already spent, per wallet, kept until a message using them would be too old."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, str], float] = {}

    def spend(self, address: str, nonce: str, keep_until: float, now: float) -> bool:
        """Mark ``nonce`` spent for ``address``; False if it already was."""
        with self._lock:
            if len(self._spent) > 10_000:
                self._spent = {k: t for k, t in self._spent.items() if t > now}
            key = (address.lower(), nonce)
            if key in self._spent:
                return False
            self._spent[key] = keep_until
            return True


def _decode(value: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.b64decode(value.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise _refuse("PARSE_ERROR", "SIGN-IN-WITH-X header is not base64-encoded JSON") from None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), str) for key in ("address", "message", "signature")
    ):
        raise _refuse("INVALID_PAYLOAD", "SIWX payload needs string address, message, signature")
    return payload


def _chain_id(value: Any) -> int:
    if isinstance(value, str):
        value = value.removeprefix("eip155:")
        if value.isdigit():
            return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _refuse("INVALID_CHAIN_ID", "chainId must be an EVM chain id such as 8453")


def verify(value: str, nonces: NonceBook) -> str:
    """The checksummed wallet address a SIWX header proves, or a 401 ``ApiError``."""
    now = time.time()
    payload = _decode(value)
    if not is_hex_address(payload["address"]):
        raise _refuse("INVALID_WALLET", "address is not an EVM wallet address")
    chain_id = _chain_id(payload.get("chainId"))
    text = payload["message"]

    nonce_line = _NONCE_LINE.search(text)
    if nonce_line is None or not _NONCE.fullmatch(nonce_line.group(1)):
        raise _refuse("MISSING_NONCE", "message needs a nonce of at least 8 alphanumerics")
    try:
        message = SiweMessage.from_message(text, abnf=False)
    except ValueError as error:
        raise _refuse("INVALID_MESSAGE", f"not an EIP-4361 message: {error}") from None
    if message.statement != SIWX_STATEMENT:
        raise _refuse("INVALID_MESSAGE", f"statement must be '{SIWX_STATEMENT}'")

    if message.address.lower() != payload["address"].lower():
        raise _refuse("ADDRESS_MISMATCH", "address differs from the message's address")
    if message.chain_id != chain_id:
        raise _refuse("CHAIN_MISMATCH", "chainId differs from the message's Chain ID")
    if chain_id != CHAIN_ID:
        raise _refuse("UNSUPPORTED_CHAIN", f"only Chain ID {CHAIN_ID} (Base) is supported")
    if message.domain != SIWX_DOMAIN:
        raise _refuse("DOMAIN_MISMATCH", f"message domain must be {SIWX_DOMAIN}")

    issued_at = _timestamp(message.issued_at)
    if issued_at > now + MAX_CLOCK_SKEW_S:
        raise _refuse("FUTURE_TIMESTAMP", "Issued At is in the future")
    if issued_at < now - MAX_MESSAGE_AGE_S:
        raise _refuse("EXPIRED", "message is more than 5 minutes old")
    if "timestamp" in payload:
        stamp = payload["timestamp"]
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise _refuse("INVALID_PAYLOAD", "timestamp must be milliseconds since the epoch")
        if abs(stamp / 1000 - issued_at) > MAX_CLOCK_SKEW_S:
            raise _refuse("TIMESTAMP_MISMATCH", "timestamp is not within 30 s of Issued At")
    if message.expiration_time is not None and now >= _timestamp(message.expiration_time):
        raise _refuse("EXPIRED", "message has passed its Expiration Time")
    if message.not_before is not None and now < _timestamp(message.not_before):
        raise _refuse("NOT_BEFORE", "message is not valid before its Not Before time")

    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=payload["signature"])
    except Exception:  # malformed hex, wrong length, bad v: eth-keys has its own exceptions
        signer = None
    if signer is None or signer.lower() != message.address.lower():
        raise _refuse("INVALID_SIGNATURE", "signature does not match the address")

    if not nonces.spend(signer, message.nonce, issued_at + MAX_MESSAGE_AGE_S + 60, now):
        raise _refuse("NONCE_REUSED", "this SIWX nonce was already used; sign a fresh header")
    return to_checksum_address(signer)


def challenge() -> dict[str, Any]:
    """What a client needs to sign in, as advertised in 402 answers."""
    issued = datetime.now(UTC)
    return {
        "header": SIWX_HEADERS[0],
        "domain": SIWX_DOMAIN,
        "uri": SIWX_URI,
        "statement": SIWX_STATEMENT,
        "version": "1",
        "chainId": CHAIN_ID,
        "nonce": secrets.token_hex(8),
        "issuedAt": issued.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "signatureType": "eip191",
    }
