"""The audio file is the truth (issue 11, item 6): format and length are read from the saved
file, shown on every job, and the download carries the real extension."""

from __future__ import annotations

import io
import wave

import lameenc
import pytest
from django.urls import reverse

from jobs import pipeline
from jobs.audio_file import inspect
from jobs.delivery import audio_filename
from tests.jobs_helpers import MUSIC, run_to_end


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()


def mp3_bytes(seconds: float, rate: int = 44100) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(b"\0\0" * int(rate * seconds)) + encoder.flush())


def test_a_wav_file_is_read_as_wav_with_its_length():
    facts = inspect(io.BytesIO(wav_bytes(3)))
    assert (facts.format, facts.content_type, facts.seconds) == ("wav", "audio/wav", 3.0)


def test_an_mp3_file_is_read_as_mp3_with_its_length():
    facts = inspect(io.BytesIO(mp3_bytes(4)))
    assert facts.format == "mp3" and facts.content_type == "audio/mpeg"
    assert abs(facts.seconds - 4) < 0.1


def test_bytes_that_are_no_audio_say_so_instead_of_guessing():
    file = io.BytesIO(b"<html>not audio</html>" * 20)
    assert inspect(file).format == "" and inspect(file).seconds is None
    assert file.tell() == 0


@pytest.mark.django_db
def test_a_music_job_records_the_files_own_format_and_length(wallet, member, client):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    assert job.audio_format == "mp3" and job.audio.name.endswith(".mp3")
    assert job.audio_content_type == "audio/mpeg"
    assert abs(job.audio_duration_s - MUSIC["duration_seconds"]) < 1, "no header: the file's"
    assert audio_filename(job).endswith(f"-{job.pk}.mp3")

    client.force_login(member)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "MP3" in page and "0:30" in page
    listing = client.get(reverse("jobs:list")).content.decode()
    assert "MP3 · 0:30 min" in listing
    download = client.get(reverse("jobs:audio", args=[job.pk]) + "?download=1")
    assert download["Content-Type"] == "audio/mpeg"
    assert f'-{job.pk}.mp3"' in download["Content-Disposition"]
