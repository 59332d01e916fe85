"""Retries happen only where repeating a request cannot do anything twice."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from eth_account import Account

from venice import QueueOptions, VeniceClient, WalletAuth, errors

QUEUED = {"model": "elevenlabs-music", "queue_id": "q-1", "status": "QUEUED"}


class Script:
    """A MockTransport handler that plays answers in order and records each request."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def make(script: Script, sleeps: list[float], **kwargs) -> VeniceClient:
    return VeniceClient(
        auth=WalletAuth(Account.create().key),
        transport=httpx.MockTransport(script),
        sleep=sleeps.append,
        **kwargs,
    )


def busy(status: int = 503, **headers) -> httpx.Response:
    return httpx.Response(status, json={"error": "busy"}, headers=headers)


def test_reads_retry_on_5xx_429_and_network_errors_with_backoff():
    script = Script(
        busy(503),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"quote": 1}),
    )
    sleeps: list[float] = []
    assert make(script, sleeps).quote("elevenlabs-music") == 1
    assert len(script.requests) == 4
    # exponential with jitter: each delay sits in [ceiling/2, ceiling]
    for attempt, delay in enumerate(sleeps):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= delay <= ceiling


def test_reads_give_up_after_max_retries():
    script = Script(*(busy(502) for _ in range(3)))
    with pytest.raises(errors.UpstreamUnavailable):
        make(script, [], max_retries=2).complete("m", "q")
    assert len(script.requests) == 3


def test_retry_after_is_honoured():
    script = Script(busy(429, **{"Retry-After": "4"}), httpx.Response(200, json={"success": True}))
    sleeps: list[float] = []
    assert make(script, sleeps).complete("m", "q") is True
    assert sleeps[0] >= 4


def test_long_retry_after_raises_instead_of_blocking_a_worker():
    script = Script(busy(429, **{"Retry-After": "90"}))
    with pytest.raises(errors.RateLimited) as caught:
        make(script, []).complete("m", "q")
    assert caught.value.retry_after == 90
    assert len(script.requests) == 1


def test_every_retry_carries_a_fresh_siwx_header():
    script = Script(busy(503), busy(429), httpx.Response(200, json={"success": True}))
    make(script, []).complete("m", "q")
    headers = [r.headers["SIGN-IN-WITH-X"] for r in script.requests]
    assert len(set(headers)) == 3
    nonces = {json.loads(base64.b64decode(h))["message"].split("Nonce: ")[1][:16] for h in headers}
    assert len(nonces) == 3


def test_queue_is_not_retried_after_a_500():
    script = Script(httpx.Response(500, json={"error": "Inference failed"}))
    with pytest.raises(errors.OutcomeUnknown) as caught:
        make(script, []).queue("elevenlabs-music", QueueOptions("an upbeat synthwave track"))
    assert caught.value.status == 500
    assert isinstance(caught.value, errors.UpstreamUnavailable)
    assert len(script.requests) == 1


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")])
def test_queue_is_not_retried_after_sending(failure):
    script = Script(failure)
    with pytest.raises(errors.OutcomeUnknown):
        make(script, []).queue("elevenlabs-music", QueueOptions("an upbeat synthwave track"))
    assert len(script.requests) == 1


def test_queue_retries_when_provably_not_processed():
    script = Script(
        busy(429, **{"Retry-After": "1"}),
        httpx.Response(429, json={"error": "busy", "code": "X402_CONCURRENCY_LIMIT"}),
        busy(503),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=QUEUED),
    )
    sleeps: list[float] = []
    client = make(script, sleeps, max_retries=4)
    assert client.queue("elevenlabs-music", QueueOptions("an upbeat synthwave track")) == "q-1"
    assert len(script.requests) == 5
    assert sleeps[0] >= 1


def test_queue_capacity_that_never_clears_is_not_an_unknown_outcome():
    script = Script(busy(503), busy(503))
    with pytest.raises(errors.UpstreamUnavailable) as caught:
        make(script, [], max_retries=1).queue(
            "elevenlabs-music", QueueOptions("an upbeat synthwave track")
        )
    assert type(caught.value) is errors.UpstreamUnavailable


def test_queue_client_errors_are_not_retried():
    script = Script(httpx.Response(402, json={"error": "Insufficient USD or Diem balance"}))
    with pytest.raises(errors.InsufficientBalance):
        make(script, []).queue("elevenlabs-music", QueueOptions("an upbeat synthwave track"))
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [busy(503), busy(429), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")],
)
def test_send_payment_is_never_retried(answer):
    script = Script(answer)
    with pytest.raises(errors.VeniceError):
        make(script, []).send_payment("c2lnbmVk")
    assert len(script.requests) == 1


def test_send_payment_timeout_is_an_unknown_outcome():
    with pytest.raises(errors.OutcomeUnknown):
        make(Script(httpx.ReadTimeout("slow")), []).send_payment("c2lnbmVk")


def test_retrieve_that_deletes_media_is_not_retried_after_sending():
    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(errors.OutcomeUnknown):
        make(script, []).retrieve("m", "q", delete_media_on_completion=True)
    assert len(script.requests) == 1
