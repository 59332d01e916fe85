"""Helpers for the sandbox tests: SIWX headers, x402 payments, and the calls built on them.

Built straight on eth-account, siwe, the x402 SDK and web3 (never on the project's
``venice`` client) so the sandbox is checked against what the real libraries produce.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage
from web3 import Web3
from x402 import x402ClientSync
from x402.http.utils import decode_payment_required_header, encode_payment_signature_header
from x402.mechanisms.evm.exact.client import ExactEvmScheme
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements

from tests.x402_helpers import TRANSFER_WITH_AUTHORIZATION, USDC, USDC_DOMAIN

# One pooled client for every test: a new httpx client per request costs tens of milliseconds.
client = httpx.Client(timeout=30)

PAY_TO = "0x2670b922ef37c7df47158725c0cc407b5382293f"
BASE = "eip155:8453"


def iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def siwe_message(account: LocalAccount, **overrides: Any) -> str:
    """A well-formed Venice sign-in message; ``overrides`` replace SiweMessage fields."""
    fields: dict[str, Any] = {
        "domain": "api.venice.ai",
        "address": account.address,
        "statement": "Sign in to Venice AI",
        "uri": "https://api.venice.ai",
        "version": "1",
        "chain_id": 8453,
        "nonce": secrets.token_hex(8),
        "issued_at": iso(time.time()),
    }
    fields.update(overrides)
    return SiweMessage(**fields).prepare_message()


def encode_siwx(payload: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def siwx_payload(account: LocalAccount, message: str | None = None, **fields: Any) -> dict:
    """The header JSON for ``message`` (default: a fresh valid one), signed by ``account``."""
    message = message if message is not None else siwe_message(account)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    payload = {
        "address": account.address,
        "message": message,
        "signature": signature,
        "chainId": 8453,
        "timestamp": int(time.time() * 1000),
    }
    payload.update(fields)
    return payload


def siwx(account: LocalAccount, **message_overrides: Any) -> dict[str, str]:
    """Headers for one request signed in as ``account`` (a fresh nonce every call)."""
    message = siwe_message(account, **message_overrides)
    return {"SIGN-IN-WITH-X": encode_siwx(siwx_payload(account, message))}


def credit(sandbox: Any, account: LocalAccount, usd: str) -> None:
    """Give a wallet Venice credit directly (a TOP_UP ledger row), skipping the chain."""
    response = client.post(
        sandbox.base_url + "/sandbox/ledger",
        json={"wallet": account.address, "type": "TOP_UP", "amount": usd},
    )
    assert response.status_code == 200, response.text


def funded(sandbox: Any, usd: str = "5") -> LocalAccount:
    """A fresh wallet holding ``usd`` of Venice credit."""
    account = Account.create()
    credit(sandbox, account, usd)
    return account


def holding(sandbox: Any, usdc: str) -> LocalAccount:
    """A fresh wallet holding ``usdc`` test USDC on the sandbox's chain (no Venice credit)."""
    account = Account.create()
    sandbox.faucet(account.address, usdc)
    return account


def top_up_challenge(sandbox: Any) -> PaymentRequired:
    response = client.post(sandbox.api_url + "/x402/top-up")
    assert response.status_code == 402
    required = decode_payment_required_header(response.headers["PAYMENT-REQUIRED"])
    assert isinstance(required, PaymentRequired)
    return required


def base_rail(required: PaymentRequired) -> PaymentRequirements:
    return next(r for r in required.accepts if r.network == BASE)


def signed_payment(
    account: LocalAccount, requirement: PaymentRequirements, usd: str | None = None
) -> PaymentPayload:
    """An x402 v2 exact payment for ``requirement``, re-priced at ``usd`` if given.

    Venice prices its top-up rail at the minimum; paying more means signing a copy of the
    requirement with another amount, exactly as the reference describes.
    """
    if usd is not None:
        atomic = str(int(Decimal(usd) * 10**6))
        requirement = requirement.model_copy(update={"amount": atomic})
    inner = ExactEvmScheme(account).create_payment_payload(requirement)
    return PaymentPayload(x402_version=2, payload=inner, accepted=requirement)


def payment_header(account: LocalAccount, sandbox: Any, usd: str | None = None) -> str:
    requirement = base_rail(top_up_challenge(sandbox))
    return encode_payment_signature_header(signed_payment(account, requirement, usd))


def sdk_payment_header(account: LocalAccount, required: PaymentRequired) -> str:
    """What the x402 SDK's own client picks and signs from a 402 (allowing 5 USD)."""
    client = x402ClientSync()
    client.register(BASE, ExactEvmScheme(account))
    client.set_spend_controls({"max_amount_per_payment": "$10"})
    return encode_payment_signature_header(client.create_payment_payload(required))


def handmade_payment(
    account: LocalAccount,
    *,
    usd: str = "5",
    value: int | None = None,
    to: str = PAY_TO,
    valid_after: int = 0,
    valid_before: int | None = None,
    signer: LocalAccount | None = None,
    **accepted: Any,
) -> str:
    """A payment header signed field by field, to build the wrong ones the SDK won't.

    ``accepted`` overrides the requirement echoed back (scheme, network, asset, pay_to,
    amount); ``value``/``to``/``valid_*`` change what is signed; ``signer`` signs instead
    of ``account`` (which stays the claimed payer).
    """
    amount = int(Decimal(usd) * 10**6)
    value = amount if value is None else value
    valid_before = int(time.time()) + 300 if valid_before is None else valid_before
    nonce = "0x" + secrets.token_hex(32)
    requirement = PaymentRequirements(
        **{
            "scheme": "exact",
            "network": BASE,
            "asset": USDC,
            "amount": str(amount),
            "pay_to": PAY_TO,
            "max_timeout_seconds": 300,
            "extra": {"name": "USD Coin", "version": "2"},
            **accepted,
        }
    )
    message = {
        "from": account.address,
        "to": to,
        "value": value,
        "validAfter": valid_after,
        "validBefore": valid_before,
        "nonce": bytes.fromhex(nonce[2:]),
    }
    signed = (signer or account).sign_typed_data(
        domain_data=USDC_DOMAIN,
        message_types={"TransferWithAuthorization": TRANSFER_WITH_AUTHORIZATION},
        message_data=message,
    )
    inner = {
        "authorization": {
            "from": account.address,
            "to": to,
            "value": str(value),
            "validAfter": str(valid_after),
            "validBefore": str(valid_before),
            "nonce": nonce,
        },
        "signature": signed.signature.to_0x_hex(),
    }
    payload = PaymentPayload(x402_version=2, payload=inner, accepted=requirement)
    return encode_payment_signature_header(payload)


def pay(sandbox: Any, header: str, name: str = "PAYMENT-SIGNATURE") -> httpx.Response:
    return client.post(sandbox.api_url + "/x402/top-up", headers={name: header})


def top_up(sandbox: Any, account: LocalAccount, usd: str) -> httpx.Response:
    """Mint USDC to ``account`` and pay it into Venice credit, for real (chain and all)."""
    sandbox.faucet(account.address, usd)
    header = payment_header(account, sandbox, usd)
    return client.post(sandbox.api_url + "/x402/top-up", headers={"PAYMENT-SIGNATURE": header})


def queue(sandbox: Any, account: LocalAccount, **body: Any) -> httpx.Response:
    return client.post(sandbox.api_url + "/audio/queue", headers=siwx(account), json=body)


def new_job(sandbox: Any, account: LocalAccount, **body: Any) -> str:
    """Queue a job Venice must accept; its queue id."""
    response = queue(sandbox, account, **body)
    assert response.status_code == 200, response.text
    return response.json()["queue_id"]


def funded_job(sandbox: Any, model: str, prompt: str, **body: Any) -> tuple[LocalAccount, str]:
    """A fresh wallet holding $5 of credit, and the queue id of a job Venice accepted from it."""
    account = funded(sandbox)
    return account, new_job(sandbox, account, model=model, prompt=prompt, **body)


def retrieve(
    sandbox: Any, account: LocalAccount, model: str, queue_id: str, **extra: Any
) -> httpx.Response:
    return client.post(
        sandbox.api_url + "/audio/retrieve",
        headers=siwx(account),
        json={"model": model, "queue_id": queue_id, **extra},
    )


def complete(sandbox: Any, account: LocalAccount, model: str, queue_id: str) -> httpx.Response:
    return client.post(
        sandbox.api_url + "/audio/complete",
        headers=siwx(account),
        json={"model": model, "queue_id": queue_id},
    )


def wait_for_result(
    sandbox: Any, account: LocalAccount, model: str, queue_id: str, **extra: Any
) -> httpx.Response:
    """Poll retrieve the way a client should until the job stops PROCESSING."""
    deadline = time.monotonic() + 30
    while True:
        response = retrieve(sandbox, account, model, queue_id, **extra)
        processing = (
            response.status_code == 200
            and response.headers["content-type"].startswith("application/json")
            and response.json()["status"] == "PROCESSING"
        )
        if not processing:
            return response
        assert time.monotonic() < deadline, "job never finished"
        body = response.json()
        remaining_ms = body["average_execution_time"] - body["execution_duration"]
        time.sleep(max(remaining_ms, 20) / 1000)


def ledger(sandbox: Any, account: LocalAccount, **params: Any) -> dict[str, Any]:
    response = client.get(
        f"{sandbox.api_url}/x402/transactions/{account.address}",
        headers=siwx(account),
        params=params,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _view(name: str, inputs: dict[str, str], output: str) -> dict[str, Any]:
    """A read-only contract function's ABI entry, its arguments given by name and type."""
    return {
        "name": name,
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": arg, "type": kind} for arg, kind in inputs.items()],
        "outputs": [{"name": "", "type": output}],
    }


ERC20_ABI = [
    _view("balanceOf", {"owner": "address"}, "uint256"),
    _view("decimals", {}, "uint8"),
    _view("authorizationState", {"authorizer": "address", "nonce": "bytes32"}, "bool"),
    {
        "name": "Transfer",
        "type": "event",
        "anonymous": False,
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
]


def usdc(sandbox: Any) -> Any:
    """The sandbox chain's USDC contract, through web3.py and the JSON-RPC endpoint."""
    w3 = Web3(Web3.HTTPProvider(sandbox.rpc_url))
    return w3.eth.contract(address=Web3.to_checksum_address(USDC), abi=ERC20_ABI)


def usdc_balance(sandbox: Any, address: str) -> int:
    return usdc(sandbox).functions.balanceOf(Web3.to_checksum_address(address)).call()
