"""SIGN-IN-WITH-X: one signed EIP-4361 message per request, and every 401 code."""

import base64
import time

import pytest
from eth_account import Account

from .sandbox_signing import client, encode_siwx, iso, siwe_message, siwx, siwx_payload


def balance(sandbox, account, headers):
    return client.get(f"{sandbox.api_url}/x402/balance/{account.address}", headers=headers)


def refused_with(response, code):
    """A bad header: the ledger routes answer one generic 401, inference names the code.

    Reference §8: balance/transactions say ``{"error": "Invalid Sign-in-with-x
    signature"}``; on ``/audio/*`` the code is in ``code``. A refused header is not spent,
    so the same header is sent to an inference route to read its code.
    """
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "Invalid Sign-in-with-x signature"}
    header = response.request.headers["SIGN-IN-WITH-X"]
    api_url = str(response.request.url).split("/x402/")[0]
    inference = client.post(
        api_url + "/audio/retrieve",
        headers={"SIGN-IN-WITH-X": header},
        json={"model": "elevenlabs-music", "queue_id": "q"},
    )
    assert inference.status_code == 401, inference.text
    body = inference.json()
    assert set(body) == {"error", "code"} and isinstance(body["error"], str)
    assert body["code"] == f"X402_SIGN_IN_{code}"
    return True


def test_a_fresh_header_signs_in(sandbox):
    wallet = Account.create()

    response = balance(sandbox, wallet, siwx(wallet))

    assert response.status_code == 200
    assert response.json()["data"]["walletAddress"] == wallet.address


def test_the_older_header_name_works_in_any_case(sandbox):
    wallet = Account.create()
    value = siwx(wallet)["SIGN-IN-WITH-X"]

    assert balance(sandbox, wallet, {"x-sign-in-with-x": value}).status_code == 200


def test_a_replayed_header_is_refused(sandbox):
    wallet = Account.create()
    headers = siwx(wallet)

    assert balance(sandbox, wallet, headers).status_code == 200
    assert refused_with(balance(sandbox, wallet, headers), "NONCE_REUSED")


def test_the_nonce_is_spent_even_when_the_request_fails(sandbox):
    wallet, other = Account.create(), Account.create()
    headers = siwx(wallet)

    assert balance(sandbox, other, headers).status_code == 403  # verified, then refused
    assert refused_with(balance(sandbox, wallet, headers), "NONCE_REUSED")


def test_nonces_are_single_use_per_wallet(sandbox):
    first, second = Account.create(), Account.create()

    assert balance(sandbox, first, siwx(first, nonce="sharednonce123")).status_code == 200
    assert balance(sandbox, second, siwx(second, nonce="sharednonce123")).status_code == 200


def unstamped(account, message):
    """A header without the optional ``timestamp``, so only the message is judged."""
    payload = siwx_payload(account, message)
    del payload["timestamp"]
    return {"SIGN-IN-WITH-X": encode_siwx(payload)}


def test_a_little_clock_skew_is_tolerated(sandbox):
    wallet = Account.create()
    ahead = time.time() + 20
    message = siwe_message(wallet, issued_at=iso(ahead))
    payload = siwx_payload(wallet, message, timestamp=int(ahead * 1000))

    assert balance(sandbox, wallet, {"SIGN-IN-WITH-X": encode_siwx(payload)}).status_code == 200


def test_the_timestamp_is_optional_but_must_be_a_number(sandbox):
    wallet = Account.create()
    stamped_badly = siwx_payload(wallet, timestamp="just now")

    assert balance(sandbox, wallet, unstamped(wallet, siwe_message(wallet))).status_code == 200
    response = balance(sandbox, wallet, {"SIGN-IN-WITH-X": encode_siwx(stamped_badly)})
    assert refused_with(response, "INVALID_PAYLOAD")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("domain", "venice.ai", "DOMAIN_MISMATCH"),
        ("domain", "127.0.0.1:8402", "DOMAIN_MISMATCH"),
        ("statement", "Sign in to Something Else", "INVALID_MESSAGE"),
        # Times are offsets from now, resolved when the test runs rather than at collection.
        ("issued_at", -301, "EXPIRED"),
        ("expiration_time", -1, "EXPIRED"),
        ("issued_at", 120, "FUTURE_TIMESTAMP"),
        ("not_before", 120, "NOT_BEFORE"),
    ],
)
def test_bad_messages(sandbox, field, value, code):
    wallet = Account.create()
    if isinstance(value, int):
        value = iso(time.time() + value)
    message = siwe_message(wallet, **{field: value})

    assert refused_with(balance(sandbox, wallet, unstamped(wallet, message)), code)


def test_chains(sandbox):
    wallet = Account.create()

    def attempt(message_chain, payload_chain):
        message = siwe_message(wallet, chain_id=message_chain)
        payload = siwx_payload(wallet, message, chainId=payload_chain)
        return balance(sandbox, wallet, {"SIGN-IN-WITH-X": encode_siwx(payload)})

    assert refused_with(attempt(1, 1), "UNSUPPORTED_CHAIN")
    assert refused_with(attempt(84532, 84532), "UNSUPPORTED_CHAIN")
    assert refused_with(attempt(8453, 1), "CHAIN_MISMATCH")
    assert refused_with(attempt(8453, "base"), "INVALID_CHAIN_ID")
    assert attempt(8453, "eip155:8453").status_code == 200


def test_payload_problems(sandbox):
    wallet, other = Account.create(), Account.create()

    def send(payload):
        return balance(sandbox, wallet, {"SIGN-IN-WITH-X": encode_siwx(payload)})

    assert refused_with(send(siwx_payload(wallet, address=other.address)), "ADDRESS_MISMATCH")
    assert refused_with(send(siwx_payload(wallet, address="0x1234")), "INVALID_WALLET")
    forged = siwx_payload(other, siwe_message(wallet))  # right message, wrong signer
    forged["address"] = wallet.address
    assert refused_with(send(forged), "INVALID_SIGNATURE")
    assert refused_with(send(siwx_payload(wallet, signature="0xdeadbeef")), "INVALID_SIGNATURE")
    stale = siwx_payload(wallet, timestamp=int((time.time() - 60) * 1000))
    assert refused_with(send(stale), "TIMESTAMP_MISMATCH")
    assert refused_with(send([1, 2, 3]), "INVALID_PAYLOAD")
    assert refused_with(send({"address": wallet.address}), "INVALID_PAYLOAD")
    assert refused_with(send(siwx_payload(wallet, message="hello")), "MISSING_NONCE")
    garbled = siwx_payload(wallet, siwe_message(wallet).replace("Version: 1", "Version: 2"))
    assert refused_with(send(garbled), "INVALID_MESSAGE")


def test_a_short_nonce_is_missing(sandbox):
    wallet = Account.create()
    message = siwe_message(wallet, nonce="abcdefgh12")
    short = message.replace("Nonce: abcdefgh12", "Nonce: abc12")

    assert refused_with(balance(sandbox, wallet, unstamped(wallet, short)), "MISSING_NONCE")


def test_undecodable_headers(sandbox):
    wallet = Account.create()
    not_json = base64.b64encode(b"{nope").decode()

    assert refused_with(balance(sandbox, wallet, {"SIGN-IN-WITH-X": "%%%"}), "PARSE_ERROR")
    assert refused_with(balance(sandbox, wallet, {"SIGN-IN-WITH-X": not_json}), "PARSE_ERROR")


def test_the_wallet_wins_over_a_bearer_key(sandbox):
    wallet = Account.create()
    key = sandbox.create_api_key("5")
    bearer = {"Authorization": f"Bearer {key}"}

    assert balance(sandbox, wallet, bearer).status_code == 403  # a key is not a wallet
    assert balance(sandbox, wallet, {**bearer, **siwx(wallet)}).status_code == 200
    mistaken_key = {"Authorization": "Bearer wrong", **siwx(wallet)}
    assert balance(sandbox, wallet, mistaken_key).status_code == 200
