"""The client against the real sandbox over loopback: SIWX, payments, the audio lifecycle, the
ledger and the chain, each through the rule of the reference it exercises."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import mutagen
import pytest
from eth_account import Account

from venice import (
    ApiKeyAuth,
    AudioResult,
    Processing,
    QueueOptions,
    TopUpPolicy,
    VeniceClient,
    WalletAuth,
    chain,
    errors,
)
from venice.siwx import sign_in_header

POLICY = TopUpPolicy(max_per_topup_usd=Decimal(100), max_per_day_usd=Decimal(1000))
MUSIC = "elevenlabs-music"
PROMPT = "an upbeat synthwave track with a driving bassline"


def wallet_client(sandbox, *, usdc: str = "100", credit: int = 0, **kwargs):
    """A client for a fresh wallet holding ``usdc`` on chain and ``credit`` USD at Venice."""
    account = Account.create()
    if usdc:
        sandbox.faucet(account.address, usdc)
    client = VeniceClient(sandbox.api_url, auth=WalletAuth(account.key), **kwargs)
    if credit:
        client.send_payment(client.top_up(Decimal(credit), POLICY).header)
    return client, account


def finished(client: VeniceClient, model: str, queue_id: str, limit_s: float = 15.0):
    """Poll until the job ends; returns the AudioResult (or raises the job's error)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        result = client.retrieve(model, queue_id)
        if isinstance(result, AudioResult):
            return result
        assert isinstance(result, Processing)
        time.sleep(0.05)
    raise AssertionError(f"job {queue_id} did not finish in {limit_s} s")


class ReplayingAuth(WalletAuth):
    """Sends one header over and over, as a buggy client would."""

    def __init__(self, private_key, header: str) -> None:
        super().__init__(private_key)
        self._fixed = header

    def header(self) -> str:
        return self._fixed


# -- SIWX ------------------------------------------------------------------------------------


def test_a_replayed_siwx_header_is_refused(sandbox):
    account = Account.create()
    header = sign_in_header(account)
    client = VeniceClient(sandbox.api_url, auth=ReplayingAuth(account.key, header), max_retries=0)
    assert client.balance().balance_usd == 0
    # An inference route names the reason in `code`; the wallet routes answer one generic 401.
    with pytest.raises(errors.AuthFailed) as caught:
        client.complete(MUSIC, "any-queue-id")
    assert caught.value.code == "X402_SIGN_IN_NONCE_REUSED"
    assert caught.value.status == 401
    with pytest.raises(errors.AuthFailed) as caught:
        client.balance()
    assert caught.value.body == {"error": "Invalid Sign-in-with-x signature"}
    assert caught.value.code is None


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"domain": "evil.example"}, "X402_SIGN_IN_DOMAIN_MISMATCH"),
        ({"now": datetime.now(UTC) - timedelta(minutes=10)}, "X402_SIGN_IN_EXPIRED"),
        ({"chain_id": 1}, "X402_SIGN_IN_UNSUPPORTED_CHAIN"),
    ],
)
def test_bad_siwx_messages_are_refused(sandbox, kwargs, code):
    account = Account.create()
    client = VeniceClient(
        sandbox.api_url,
        auth=ReplayingAuth(account.key, sign_in_header(account, **kwargs)),
        max_retries=0,
    )
    with pytest.raises(errors.AuthFailed) as caught:
        client.complete(MUSIC, "any-queue-id")
    assert caught.value.code == code


def test_retries_sign_fresh_headers_so_the_sandbox_accepts_them(sandbox):
    client, account = wallet_client(sandbox, usdc="")
    sandbox.set_fault("balance", status=503, count=2)
    assert client.balance().wallet_address == account.address
    assert sandbox.stats(account.address)["statuses"]["balance"] == {"503": 2, "200": 1}


# -- the whole cycle -------------------------------------------------------------------------


def test_quote_top_up_queue_poll_save_complete(sandbox, tmp_path):
    client, account = wallet_client(sandbox, usdc="50")
    price = client.quote(MUSIC, duration_seconds=10)
    assert price == Decimal("0.5")

    payment = client.top_up(Decimal(10), POLICY)
    first = client.send_payment(payment.header)
    again = client.send_payment(payment.header)  # the same bytes: credited once
    assert first.amount_credited == Decimal(10) and first.new_balance == Decimal(10)
    assert again.payment_id == first.payment_id
    assert first.payer == account.address and first.network == "eip155:8453"
    assert client.balance().balance_usd == Decimal(10)
    assert chain.usdc_balance(sandbox.rpc_url, account.address) == Decimal(40)

    queue_id = client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10))
    first_poll = client.retrieve(MUSIC, queue_id)
    assert isinstance(first_poll, Processing)
    assert first_poll.average_execution_time_ms > 0

    path = tmp_path / "track.mp3"
    with finished(client, MUSIC, queue_id) as audio, path.open("wb") as file:
        # Music comes back as MP3, and only Seed Audio sends its length (§8).
        assert audio.content_type == "audio/mpeg" and audio.audio_format == "mp3"
        assert audio.model_id == MUSIC and audio.model_name == "ElevenLabs Music"
        assert audio.audio_duration_s is None and audio.inference_time_s is not None
        for chunk in audio.iter_bytes(32 * 1024):
            file.write(chunk)
    assert round(mutagen.File(path).info.length) == 10
    assert path.stat().st_size == audio.content_length

    assert client.complete(MUSIC, queue_id) is True
    with pytest.raises(errors.NotFound):
        client.retrieve(MUSIC, queue_id)
    assert client.balance().balance_usd == Decimal("9.5")
    kinds = [(t.type, t.amount) for t in client.transactions()]
    assert kinds == [("CHARGE", Decimal("-0.5")), ("TOP_UP", Decimal(10))]  # charges negative


def test_api_key_client(sandbox):
    client = VeniceClient(sandbox.api_url, auth=ApiKeyAuth(sandbox.create_api_key("5")))
    queue_id = client.queue(
        "elevenlabs-sound-effects-v2", QueueOptions("door creak", duration_seconds=2)
    )
    with finished(client, "elevenlabs-sound-effects-v2", queue_id) as audio:
        assert sum(len(c) for c in audio.iter_bytes()) == audio.content_length


def test_local_validation_agrees_with_the_sandbox(sandbox):
    client, _ = wallet_client(sandbox, credit=5)
    specs = {m.id: m.spec for m in client.models()}
    for model, fields in [
        ("minimax-music-v25", {"duration_seconds": 60}),
        ("elevenlabs-music", {"duration_seconds": 301}),
        ("ace-step-15", {"duration_seconds": 45}),  # not one of its lengths
        ("elevenlabs-sound-effects-v2", {"force_instrumental": True}),
        ("elevenlabs-tts-v4", {"speed": 2}),
    ]:
        with pytest.raises(errors.InvalidRequest) as local:
            client.queue(model, QueueOptions(PROMPT, **fields), spec=specs[model])
        with pytest.raises(errors.InvalidRequest) as remote:
            client.queue(model, QueueOptions(PROMPT, **fields))
        assert local.value.status is None and remote.value.status == 400
        assert local.value.field == remote.value.field, model

    with pytest.raises(errors.InvalidRequest) as remote:
        client.queue("elevenlabs-tts-v4", QueueOptions("Hello", voice="Morgan"))
    assert remote.value.field == "voice"
    assert "Rachel" in remote.value.details["supported_voices"]
    spec = specs["elevenlabs-tts-v4"]
    assert client.queue(
        "elevenlabs-tts-v4",
        QueueOptions("Hello there", voice="Adam", speed=Decimal("1.1"), language_code="en"),
        spec=spec,
    )


# -- payments --------------------------------------------------------------------------------


def test_settlement_timeout_then_resend_credits_once(sandbox):
    client, account = wallet_client(sandbox)
    sandbox.configure(late_settlement_s=60)  # lands 0.3 s after the 504
    sandbox.set_fault("top-up", settlement_timeout=True, count=1)
    payment = client.top_up(Decimal(7), POLICY)
    with pytest.raises(errors.SettlementTimeout):
        client.send_payment(payment.header)

    answers = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            result = client.send_payment(payment.header)
            break
        except errors.PaymentInProgress:
            answers.append("409")
            time.sleep(0.05)
    assert answers  # it was still settling when first resent
    assert result.amount_credited == Decimal(7)
    assert client.balance().balance_usd == Decimal(7)
    assert chain.usdc_balance(sandbox.rpc_url, account.address) == Decimal(93)


def test_resend_while_settling_is_payment_in_progress(sandbox):
    client, _ = wallet_client(sandbox)
    sandbox.configure(settle_delay_s=100)  # 0.5 s of wall time
    payment = client.top_up(Decimal(5), POLICY)
    results = []
    sender = threading.Thread(target=lambda: results.append(client.send_payment(payment.header)))
    sender.start()
    time.sleep(0.15)
    with pytest.raises(errors.PaymentInProgress) as caught:
        client.send_payment(payment.header)
    assert caught.value.status == 409 and caught.value.code == "PAYMENT_IN_PROGRESS"
    sender.join()
    assert results[0].new_balance == Decimal(5)
    assert client.send_payment(payment.header).payment_id == results[0].payment_id


def test_a_payment_the_chain_rejects_fails_cleanly(sandbox):
    client, _ = wallet_client(sandbox, usdc="3")  # less USDC than the 5 USD top-up
    with pytest.raises(errors.PaymentFailed) as caught:
        client.send_payment(client.top_up(Decimal(5), POLICY).header)
    assert caught.value.code == "SETTLEMENT_FAILED"
    assert client.balance().balance_usd == 0


def test_sandbox_challenge_and_caps(sandbox):
    client, _ = wallet_client(sandbox)
    with pytest.raises(errors.PaymentRefused, match="minimum"):
        client.top_up(Decimal(4), POLICY)
    with pytest.raises(errors.PaymentRefused, match="daily cap"):
        client.top_up(
            Decimal(20), TopUpPolicy(max_per_topup_usd=50, max_per_day_usd=100, spent_today_usd=90)
        )


# -- errors ----------------------------------------------------------------------------------


def test_insufficient_balance_numbers(sandbox):
    client, _ = wallet_client(sandbox, usdc="")
    with pytest.raises(errors.InsufficientBalance) as caught:
        client.queue(MUSIC, QueueOptions(PROMPT))
    error = caught.value
    assert error.code == "PAYMENT_REQUIRED"
    assert error.current_balance_usd == 0
    assert error.minimum_balance_usd == Decimal("0.1")
    assert error.suggested_top_up_usd == Decimal(10)
    assert error.minimum_top_up_usd == Decimal(5)


def test_insufficient_balance_for_the_job(sandbox):
    client, _ = wallet_client(sandbox, credit=5)
    for _ in range(2):
        client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=300))  # 2.0 USD each
    with pytest.raises(errors.InsufficientBalance) as caught:
        client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=300))
    assert caught.value.code is None and caught.value.current_balance_usd is None
    assert "Insufficient" in caught.value.message
    assert client.balance().balance_usd == 1


def test_content_policy_is_refunded_with_a_suggested_prompt(sandbox):
    client, _ = wallet_client(sandbox, credit=5)
    queue_id = client.queue(
        MUSIC, QueueOptions("a contraband smuggling anthem", duration_seconds=10)
    )
    with pytest.raises(errors.ContentPolicy) as caught:
        finished(client, MUSIC, queue_id)
    assert caught.value.suggested_prompt == "a smuggling anthem"
    assert [t.type for t in client.transactions()][:2] == ["REFUND", "CHARGE"]
    assert client.balance().balance_usd == 5


def test_rate_limit_retry_after(sandbox):
    client, account = wallet_client(sandbox, credit=5)
    sandbox.configure(queue_per_minute=1)
    client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10))
    with pytest.raises(errors.RateLimited) as caught:
        client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10))
    # Venice asks for most of a minute: the client hands that to the caller instead of blocking.
    assert 0 < caught.value.retry_after <= 60
    assert sandbox.stats(account.address)["calls"]["queue"] == 2


def test_short_retry_after_is_waited_out(sandbox):
    sleeps: list[float] = []
    client, account = wallet_client(sandbox, credit=5, sleep=sleeps.append)
    queue_id = client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10))
    sandbox.set_fault("retrieve", status=429, count=1)
    client.retrieve(MUSIC, queue_id)
    assert sleeps and sleeps[0] >= 1  # the fault's Retry-After: 1
    assert sandbox.stats(account.address)["statuses"]["retrieve"] == {"429": 1, "200": 1}


def test_queue_is_not_resent_after_a_500(sandbox):
    client, account = wallet_client(sandbox, credit=5)
    sandbox.set_fault("queue", status=500, count=1)
    with pytest.raises(errors.OutcomeUnknown):
        client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10))
    assert sandbox.stats(account.address)["calls"]["queue"] == 1


def test_queue_at_capacity_is_retried(sandbox):
    sleeps: list[float] = []
    client, account = wallet_client(sandbox, credit=5, sleep=sleeps.append)
    sandbox.set_fault("queue", status=503, count=2)
    assert client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10))
    assert sandbox.stats(account.address)["statuses"]["queue"] == {"503": 2, "200": 1}
    assert len(sleeps) == 2


def test_concurrency_limit(sandbox):
    client, _ = wallet_client(sandbox, usdc="", max_retries=0)
    # An inference route: there the 429 carries its code (the wallet routes send none).
    sandbox.set_fault("complete", delay_ms=100_000)  # each call holds its slot for 0.5 s
    start = threading.Barrier(6)
    outcomes: list[object] = []

    def call() -> None:
        start.wait()
        try:
            outcomes.append(client.complete(MUSIC, "any-queue-id"))
        except errors.VeniceError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, errors.ConcurrencyLimit)]
    assert len(refused) == 1
    assert refused[0].code == "X402_CONCURRENCY_LIMIT" and refused[0].retry_after == 1


# -- ledger and chain ------------------------------------------------------------------------


def test_transactions_across_pages(sandbox):
    client, _ = wallet_client(sandbox, credit=10)
    queue_ids = [client.queue(MUSIC, QueueOptions(PROMPT, duration_seconds=10)) for _ in range(4)]
    ledger = client.transactions(page_size=2)  # 5 rows: three pages
    assert [t.type for t in ledger] == ["CHARGE"] * 4 + ["TOP_UP"]
    assert [t.request_id for t in ledger[:4]] == queue_ids[::-1]
    assert ledger[0].balance_after == Decimal(8)
    assert ledger == client.transactions()


def test_chain_reads_balance_and_the_top_up_transfer(sandbox):
    client, account = wallet_client(sandbox, usdc="25")
    assert chain.usdc_balance(sandbox.rpc_url, account.address) == Decimal(25)
    payment = client.top_up(Decimal("12.5"), POLICY)
    result = client.send_payment(payment.header)
    assert chain.usdc_balance(sandbox.rpc_url, account.address) == Decimal("12.5")

    check = chain.check_transfer(
        sandbox.rpc_url,
        result.transaction_hash,
        account.address,
        payment.pay_to,
        payment.amount_atomic,
    )
    assert check.ok and check.transferred_atomic == 12_500_000 and check.block_number
    wrong_amount = chain.check_transfer(
        sandbox.rpc_url, result.transaction_hash, account.address, payment.pay_to, 5_000_000
    )
    assert not wrong_amount.ok and "expected 5000000" in wrong_amount.reason
    wrong_payee = chain.check_transfer(
        sandbox.rpc_url,
        result.transaction_hash,
        account.address,
        account.address,
        payment.amount_atomic,
    )
    assert not wrong_payee.ok and "no USDC Transfer" in wrong_payee.reason
    unknown = chain.check_transfer(
        sandbox.rpc_url, "0x" + "00" * 32, account.address, payment.pay_to, 1
    )
    assert not unknown.ok and "no receipt" in unknown.reason


def test_chain_rpc_down_is_upstream_unavailable():
    with pytest.raises(errors.UpstreamUnavailable):
        chain.usdc_balance("http://127.0.0.1:9/rpc", Account.create().address)
