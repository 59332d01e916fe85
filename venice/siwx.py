"""Sign-In-With-X: the per-request wallet credential of §4.

Venice consumes a header's nonce as soon as its signature verifies, so a header is good for one
request only: build a fresh one for every request, retries included (``auth.WalletAuth`` does).
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

SIWX_HEADER = "SIGN-IN-WITH-X"
BASE_CHAIN_ID = 8453
VENICE_DOMAIN = "api.venice.ai"
VENICE_URI = "https://api.venice.ai"
STATEMENT = "Sign in to Venice AI"
# Venice refuses an Issued At older than 5 minutes anyway; expiring with it keeps a leaked
# header useless afterwards.
LIFETIME = timedelta(minutes=5)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_message(
    address: str,
    *,
    issued_at: datetime,
    nonce: str,
    domain: str = VENICE_DOMAIN,
    uri: str = VENICE_URI,
    chain_id: int = BASE_CHAIN_ID,
    lifetime: timedelta = LIFETIME,
) -> str:
    """The EIP-4361 text to sign. ``address`` must be checksummed (siwe enforces EIP-55)."""
    return SiweMessage(
        domain=domain,
        address=address,
        statement=STATEMENT,
        uri=uri,
        version="1",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=_iso(issued_at),
        expiration_time=_iso(issued_at + lifetime),
    ).prepare_message()


def sign_in_header(
    account: LocalAccount,
    *,
    now: datetime | None = None,
    domain: str = VENICE_DOMAIN,
    uri: str = VENICE_URI,
    chain_id: int = BASE_CHAIN_ID,
    lifetime: timedelta = LIFETIME,
) -> str:
    """A ready ``SIGN-IN-WITH-X`` value: base64 of the JSON Venice verifies.

    The keyword arguments exist so tests can build the headers Venice must refuse (another
    domain, an expired message); production code calls it with the account alone.
    """
    issued_at = now or datetime.now(UTC)
    message = build_message(
        account.address,
        issued_at=issued_at,
        nonce=secrets.token_hex(8),
        domain=domain,
        uri=uri,
        chain_id=chain_id,
        lifetime=lifetime,
    )
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()
    payload = {
        "address": account.address,
        "message": message,
        "signature": signature if signature.startswith("0x") else "0x" + signature,
        "chainId": chain_id,
        # Venice checks this against Issued At (30 s tolerance); sending the same instant
        # keeps the two consistent by construction.
        "timestamp": int(issued_at.timestamp() * 1000),
    }
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
