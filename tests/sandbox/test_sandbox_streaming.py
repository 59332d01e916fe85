"""Audio is generated while it is sent: a 42 MB WAV streams with flat memory."""

import io
import tracemalloc
import wave

from sandbox.audio import WavStream

from .sandbox_signing import client, funded, new_job, siwx, wait_for_result


def sent_and_peak(stream) -> tuple[int, int]:
    """The bytes ``stream`` yields, and the most memory Python held while it yielded them."""
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in stream.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return total, peak


def test_wav_chunks_never_hold_the_file(sandbox):
    stream = WavStream("long ambient drone", 300, 44_100, 2)

    total, peak = sent_and_peak(stream)

    assert total == stream.content_length > 50_000_000
    assert peak < 5_000_000


def test_the_wav_header_describes_the_stream():
    stream = WavStream("spoken words", 2.5, 24_000, 1)
    data = b"".join(stream.chunks())

    with wave.open(io.BytesIO(data)) as audio:
        assert audio.getnframes() == 60_000
        assert audio.getframerate() == 24_000
        assert audio.getnchannels() == 1
    assert len(data) == stream.content_length == 44 + 120_000


def test_a_40_mb_download_streams_with_bounded_memory(sandbox):
    wallet = funded(sandbox)
    model = "ace-step-15"  # a WAV model: four minutes of stereo is about 42 MB
    queue_id = new_job(
        sandbox,
        wallet,
        model=model,
        prompt="four minutes of cinematic strings",
        duration_seconds=240,
    )
    wait_for_result(sandbox, wallet, model, queue_id, delete_media_on_completion=False)

    tracemalloc.start()  # traces the server's threads as well as this one
    try:
        received = 0
        with client.stream(
            "POST",
            sandbox.api_url + "/audio/retrieve",
            headers=siwx(wallet),
            json={"model": model, "queue_id": queue_id},
        ) as response:
            length = int(response.headers["content-length"])
            for chunk in response.iter_bytes():
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert received == length > 40_000_000
    assert peak < 10_000_000


def test_a_long_mp3_streams_from_one_encoded_phrase():
    from mutagen.mp3 import MP3

    from sandbox.mp3 import Mp3Stream, count_frames

    stream = Mp3Stream("five minutes of cinematic strings", 300, 44_100, 2)

    total, peak = sent_and_peak(stream)
    data = b"".join(stream.chunks())
    frames, samples_per_frame = count_frames(data)

    assert total == len(data) == stream.content_length
    assert peak < 1_000_000  # the track is about 4.8 MB; only a phrase is ever held
    assert abs(frames * samples_per_frame / 44_100 - 300) < 0.05
    assert abs(MP3(io.BytesIO(data)).info.length - 300) < 0.05
