"""retrieve: progress as JSON, finished audio as a stream that is never buffered whole."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account

from venice import AudioResult, Processing, VeniceClient, WalletAuth, errors

AUDIO_HEADERS = {
    "content-type": "audio/wav",
    "x-venice-audio-format": "wav",
    "x-venice-inference-time": "4.2",
    "x-venice-model-id": "elevenlabs-music",
    "x-venice-model-name": "ElevenLabs Music",
    "x-venice-audio-duration": "60",
}


class Chunks:
    """An audio body that counts how much of it has been pulled off the wire."""

    def __init__(self, count: int, size: int = 1024, fail_at: int | None = None):
        self.count, self.size, self.fail_at = count, size, fail_at
        self.pulled = 0

    def __iter__(self):
        for index in range(self.count):
            if index == self.fail_at:
                raise httpx.RemoteProtocolError("peer closed connection")
            self.pulled += 1
            yield bytes([index % 256]) * self.size


def client_answering(response: httpx.Response) -> VeniceClient:
    return VeniceClient(
        auth=WalletAuth(Account.create().key),
        transport=httpx.MockTransport(lambda request: response),
        sleep=lambda _: None,
    )


def test_processing():
    answer = httpx.Response(
        200,
        json={"status": "PROCESSING", "average_execution_time": 45000, "execution_duration": 5200},
    )
    result = client_answering(answer).retrieve("elevenlabs-music", "q-1")
    assert result == Processing(execution_duration_ms=5200, average_execution_time_ms=45000)


def test_audio_is_streamed_not_buffered():
    body = Chunks(count=50)
    answer = httpx.Response(200, headers=AUDIO_HEADERS, content=body)
    result = client_answering(answer).retrieve("elevenlabs-music", "q-1")
    assert isinstance(result, AudioResult)
    assert body.pulled == 0  # nothing read yet
    assert result.content_type == "audio/wav"
    assert result.audio_format == "wav"
    assert result.inference_time_s == 4.2
    assert result.model_id == "elevenlabs-music"
    assert result.model_name == "ElevenLabs Music"
    assert result.audio_duration_s == 60
    assert result.headers["x-venice-model-id"] == "elevenlabs-music"

    with result:
        stream = result.iter_bytes(1024)
        next(stream)
        assert body.pulled < 5  # read as we go
        total = 1024 + sum(len(chunk) for chunk in stream)
    assert total == 50 * 1024


def test_interrupted_download_raises_upstream_unavailable():
    answer = httpx.Response(200, headers=AUDIO_HEADERS, content=Chunks(count=10, fail_at=3))
    with (
        client_answering(answer).retrieve("m", "q") as result,
        pytest.raises(errors.UpstreamUnavailable, match="interrupted"),
    ):
        for _ in result.iter_bytes():
            pass


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html></html>"),
        httpx.Response(200, json={"status": "DONE"}),
        httpx.Response(200, json={"status": "PROCESSING"}),
        httpx.Response(
            200, headers={"content-type": "application/json"}, content=b'{"status": "PROC'
        ),
    ],
)
def test_odd_retrieve_answers_are_malformed(answer):
    with pytest.raises(errors.MalformedResponse):
        client_answering(answer).retrieve("m", "q")


def test_failed_generation_comes_back_as_an_error():
    answer = httpx.Response(
        422, json={"error": "Content policy", "suggested_prompt": "a calm lake at dawn"}
    )
    with pytest.raises(errors.ContentPolicy) as caught:
        client_answering(answer).retrieve("m", "q")
    assert caught.value.suggested_prompt == "a calm lake at dawn"
