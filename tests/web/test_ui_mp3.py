"""MP3 downloads of WAV originals: a valid MP3 of the same length, encoded as it is streamed,
with the original download's permissions."""

from __future__ import annotations

import array
import io
import math
import tracemalloc
import wave

import miniaudio
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from mutagen.mp3 import MP3

from jobs import mp3
from jobs.audio_file import inspect
from jobs.models import Job
from wallets.models import Wallet

from .ui_helpers import give_audio, make_job, make_wallet

pytestmark = pytest.mark.django_db


def sine_wav(seconds: int, rate: int = 44_100, channels: int = 2) -> bytes:
    """A 440 Hz tone: one second computed, then repeated (fast, and a real signal to encode)."""
    second = array.array(
        "h",
        (
            int(12_000 * math.sin(2 * math.pi * 440 * (frame // channels) / rate))
            for frame in range(rate * channels)
        ),
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(second.tobytes() * seconds)
    return buffer.getvalue()


def wav_job(user, seconds: int, **fields) -> Job:
    wallet = Wallet.objects.first() or make_wallet()
    job = make_job(user, wallet, prompt="Calm piano at dusk!", **fields)
    give_audio(job, sine_wav(seconds))
    job.audio_duration_s = float(seconds)
    job.save(update_fields=["audio_duration_s"])
    return job


def test_a_wav_original_downloads_as_an_mp3_of_the_same_length(client, member):
    job = wav_job(member, 5)
    client.force_login(member)
    response = client.get(reverse("jobs:audio_mp3", args=[job.pk]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Content-Disposition"] == (
        f'attachment; filename="elevenlabs-music-calm-piano-at-dusk-{job.pk}.mp3"'
    )
    data = b"".join(response.streaming_content)
    assert MP3(io.BytesIO(data)).info.length == pytest.approx(5, abs=0.1)
    decoded = miniaudio.mp3_read_s16(data)
    assert decoded.sample_rate == 44_100 and decoded.nchannels == 2
    assert decoded.duration == pytest.approx(5, abs=0.1)
    assert max(decoded.samples) > 8_000  # the tone, not silence
    assert inspect(io.BytesIO(data)).format == "mp3"


def test_a_minute_of_wav_is_encoded_in_chunks_in_bounded_memory(client, member, tmp_path):
    job = wav_job(member, 60)
    size = job.audio_bytes
    assert size > 10_000_000
    client.force_login(member)
    tracemalloc.start()
    try:
        response = client.get(reverse("jobs:audio_mp3", args=[job.pk]))
        chunks = 0
        with open(tmp_path / "out.mp3", "wb") as out:  # on disk, as a browser would keep it
            for chunk in response.streaming_content:
                chunks += 1
                out.write(chunk)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chunks > 100  # fed to the encoder a chunk at a time, sent as it comes
    # Never the whole WAV (10 MB) in memory, nor the whole MP3 (1.4 MB): a few chunks of 64 KiB
    # and the request's own (about half a megabyte in all).
    assert peak < size / 10, (peak, size)
    assert MP3(tmp_path / "out.mp3").info.length == pytest.approx(60, abs=0.1)


def test_the_encoder_keeps_other_rates_and_mono():
    data = b"".join(
        mp3.encode(
            io.BytesIO(sine_wav(2, rate=24_000, channels=1)),
            inspect(io.BytesIO(sine_wav(2, rate=24_000, channels=1))),
        )
    )
    info = MP3(io.BytesIO(data)).info
    assert (info.sample_rate, info.channels, info.bitrate) == (24_000, 1, 96_000)
    assert info.length == pytest.approx(2, abs=0.1)
    assert mp3.output_rate(96_000) == 48_000 and mp3.output_rate(44_100) == 44_100


def test_the_mp3_has_the_originals_permissions(client, member, django_user_model):
    owner = django_user_model.objects.create_user("owner", password="x")
    private = wav_job(owner, 1, private=True)
    shared = wav_job(owner, 1)
    client.force_login(member)
    assert client.get(reverse("jobs:audio_mp3", args=[private.pk])).status_code == 404
    assert client.get(reverse("jobs:audio", args=[private.pk])).status_code == 404
    assert client.get(reverse("jobs:audio_mp3", args=[shared.pk])).status_code == 200
    client.logout()
    response = client.get(reverse("jobs:audio_mp3", args=[shared.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_only_a_finished_wav_has_an_mp3(client, member):
    client.force_login(member)
    running = make_job(member, Wallet.objects.first() or make_wallet(), state=Job.State.PROCESSING)
    assert client.get(reverse("jobs:audio_mp3", args=[running.pk])).status_code == 404
    original = make_job(member, Wallet.objects.first() or make_wallet())
    original.audio.save("job.mp3", ContentFile(b"\xff\xfb" + b"\0" * 500), save=False)
    original.audio_format = "mp3"
    original.save()
    assert client.get(reverse("jobs:audio_mp3", args=[original.pk])).status_code == 404
    page = client.get(original.get_absolute_url()).content.decode()
    assert "Download MP3" not in page and "Download</a>" in page
    # A file that is not the WAV its row says it is: 404, not a broken download.
    fake = give_audio(
        make_job(member, Wallet.objects.first() or make_wallet()), b"not a wav at all" * 10
    )
    assert client.get(reverse("jobs:audio_mp3", args=[fake.pk])).status_code == 404


def test_the_job_page_offers_the_mp3_beside_the_original(client, member):
    job = wav_job(member, 1)
    client.force_login(member)
    page = client.get(job.get_absolute_url()).content.decode()
    assert f'href="/jobs/{job.pk}/audio/?download=1"' in page
    assert f'href="/jobs/{job.pk}/audio.mp3"' in page and "Download MP3" in page
