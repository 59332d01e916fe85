"""The SIGN-IN-WITH-X header and the two auth flows."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import SiweMessage

from venice import ApiKeyAuth, VeniceClient, WalletAuth
from venice.siwx import sign_in_header


def decode(header: str) -> dict:
    return json.loads(base64.b64decode(header))


def test_header_carries_a_verifiable_eip4361_message():
    account = Account.create()
    before = datetime.now(UTC)
    payload = decode(sign_in_header(account))

    assert payload["address"] == account.address
    assert payload["chainId"] == 8453
    message = SiweMessage.from_message(payload["message"])
    assert message.domain == "api.venice.ai"
    assert message.address == account.address
    assert message.statement == "Sign in to Venice AI"
    assert message.uri == "https://api.venice.ai"
    assert message.version == "1"
    assert message.chain_id == 8453
    assert len(message.nonce) == 16 and message.nonce.isalnum()
    issued = datetime.fromisoformat(message.issued_at)
    expires = datetime.fromisoformat(message.expiration_time)
    assert before - timedelta(seconds=1) <= issued <= datetime.now(UTC)
    assert expires - issued <= timedelta(minutes=5)
    assert abs(payload["timestamp"] - issued.timestamp() * 1000) < 1000
    signer = Account.recover_message(
        encode_defunct(text=payload["message"]), signature=payload["signature"]
    )
    assert signer == account.address
    message.verify(payload["signature"], domain="api.venice.ai")


def test_each_header_has_a_fresh_nonce():
    account = Account.create()
    nonces = {
        SiweMessage.from_message(decode(sign_in_header(account))["message"]).nonce
        for _ in range(20)
    }
    assert len(nonces) == 20


def test_wallet_auth_signs_every_request_and_hides_the_key():
    account = Account.create()
    key_hex = account.key.hex()
    auth = WalletAuth(key_hex)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["SIGN-IN-WITH-X"])
        assert "authorization" not in request.headers
        return httpx.Response(200, json={"success": True})

    client = VeniceClient(auth=auth, transport=httpx.MockTransport(handler))
    client.complete("m", "q1")
    client.complete("m", "q2")
    assert len(set(seen)) == 2
    assert all(decode(h)["address"] == account.address for h in seen)

    assert repr(auth) == f"WalletAuth({account.address})"
    for text in (repr(auth), str(auth), repr(client)):
        assert key_hex.removeprefix("0x") not in text


def test_api_key_auth_sends_bearer():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer vk-secret"
        assert "sign-in-with-x" not in request.headers
        return httpx.Response(200, json={"success": True})

    auth = ApiKeyAuth("vk-secret")
    assert VeniceClient(auth=auth, transport=httpx.MockTransport(handler)).complete("m", "q")
    assert "vk-secret" not in repr(auth)


def test_quote_and_models_send_no_credentials():
    def handler(request: httpx.Request) -> httpx.Response:
        assert "sign-in-with-x" not in request.headers
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": []})
        return httpx.Response(200, json={"quote": 0.69})

    client = VeniceClient(
        auth=WalletAuth(Account.create().key), transport=httpx.MockTransport(handler)
    )
    assert client.models() == []
    assert str(client.quote("elevenlabs-music", duration_seconds=60)) == "0.69"
