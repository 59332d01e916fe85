"""Waveforms (issue 13, item 2): the worker computes each saved file's peaks; a file that cannot
be decoded has none, and its job completes all the same."""

from __future__ import annotations

import io
import math
import re
import struct

import lameenc
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from jobs import pipeline, waveform
from jobs.audio_file import inspect
from jobs.models import Job
from jobs.waveform import BARS, fold, peaks, svg
from tests.jobs_helpers import MUSIC, run_to_end, wav_file

RATE = 16000


def tone(seconds: float, amplitude: float, rate: int = RATE) -> bytes:
    """16-bit mono samples of a 440 Hz sine (silence at amplitude 0)."""
    step = 2 * math.pi * 440 / rate
    return b"".join(
        struct.pack("<h", round(amplitude * 32767 * math.sin(step * n)))
        for n in range(int(seconds * rate))
    )


def mp3_file(pcm: bytes, rate: int = 44100) -> io.BytesIO:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return io.BytesIO(bytes(encoder.encode(pcm) + encoder.flush()))


def peaks_of(file: io.BytesIO) -> list[float] | None:
    return peaks(file, inspect(file))


def test_silence_then_a_loud_tone_shows_as_flat_then_tall():
    found = peaks_of(wav_file(tone(3, 0) + tone(3, 0.9), RATE))
    assert found is not None and abs(len(found) - BARS) <= 1
    half = len(found) // 2
    assert max(found[: half - 1]) == 0, "the silent half"
    assert min(found[half + 1 :]) > 0.85 and max(found) <= 0.91, "the tone's half, at 0.9"


def test_a_quiet_tone_is_as_quiet_as_it_is():
    found = peaks_of(wav_file(tone(2, 0.25), RATE))
    assert all(0.22 < peak < 0.27 for peak in found)


def test_an_mp3_decodes_and_keeps_the_files_position_at_the_start():
    file = mp3_file(tone(1, 0, 44100) + tone(3, 0.8, 44100), 44100)
    found = peaks_of(file)
    assert file.tell() == 0
    assert found is not None and abs(len(found) - BARS) <= 3
    assert max(found[: len(found) // 5]) < 0.05 < 0.7 < min(found[len(found) // 3 : -3])


def test_a_stereo_file_peaks_at_its_louder_channel():
    left = tone(1, 0.3)
    right = tone(1, 0.6)
    frames = b"".join(left[i : i + 2] + right[i : i + 2] for i in range(0, len(left), 2))
    assert 0.58 < max(peaks_of(wav_file(frames, RATE, channels=2))) < 0.62


@pytest.mark.parametrize(
    "data",
    [
        b"<html>not audio</html>" * 200,
        b"",
        bytes(range(256)) * 40,
        b"\xff\xfb\x90\x00" + bytes(4000),  # an MP3 frame header, then zeros
        b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200),  # a broken WAV header
    ],
)
def test_garbage_has_no_peaks_and_raises_nothing(data):
    file = io.BytesIO(data)
    found = peaks_of(file)
    assert found is None
    assert file.tell() == 0


def test_a_container_miniaudio_cannot_decode_has_no_peaks():
    facts = inspect(wav_file(tone(1, 0.5), RATE))
    opus = type(facts)("opus", "audio/ogg", 1.0, sample_rate=48000, channels=2)
    assert peaks(io.BytesIO(b"OggS" + bytes(100)), opus) is None


def test_a_length_header_that_lies_still_gives_at_most_bars_peaks():
    file = wav_file(tone(4, 0.5), RATE)
    facts = inspect(file)
    short = type(facts)(facts.format, facts.content_type, 0.5, facts.sample_rate, facts.channels)
    found = peaks(file, short)
    assert len(found) <= BARS and min(found) > 0.45


def test_fold_keeps_the_loudest_of_each_group():
    assert fold([0.1, 0.9, 0.2, 0.3, 0.5], 2) == [0.9, 0.5]
    assert fold([0.1, 0.9, 0.2, 0.3, 0.5, 0.4, 0.8], 3) == [0.9, 0.3, 0.8]
    assert fold([0.1, 0.2], 5) == [0.1, 0.2]


def outline(drawn: str) -> list[tuple[float, float]]:
    """The points of the waveform's outline, from its SVG."""
    path = re.search(r'<path d="M([^"]*)Z"/>', drawn).group(1).replace("L", " ").split()
    return [(float(x), float(y)) for x, y in zip(path[::2], path[1::2], strict=True)]


def test_the_svg_outlines_the_peaks_mirrored_for_its_player():
    drawn = svg([0.0, 0.25, 0.5], player="player-7")
    assert 'data-player="player-7"' in drawn and 'clip-path="url(#wave-player-7)"' in drawn
    assert 'viewBox="0 0 2 40"' in drawn
    # Against the loudest (0.5 fills the height); silence is a thin line, still there to click.
    assert outline(drawn) == [(0, 19.5), (1, 10), (2, 0), (2, 40), (1, 30), (0, 20.5)]
    quiet = outline(svg([0.01, 0.05], player="p"))
    assert quiet[1] == (1, 10), "a track quieter than 0.1 is not magnified to full height"
    assert svg(None, player="p") == "" and svg([], player="p") == ""
    assert len(outline(svg([0.5] * 300, player="p", bars=100))) == 200
    assert len(outline(svg([0.5], player="p"))) == 4, "one peak still spans the width"


@pytest.mark.django_db
def test_a_job_completed_through_the_sandbox_has_its_waveform(wallet, member):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    assert job.state == job.State.COMPLETED, job.error_message
    assert job.audio_peaks is not None and abs(len(job.audio_peaks) - BARS) <= 3
    assert all(0 <= peak <= 1 for peak in job.audio_peaks)
    assert max(job.audio_peaks) > 0.2, "the sandbox's notes are loud enough to see"
    with job.audio.open("rb") as audio:
        assert waveform.peaks(audio, inspect(audio)) == job.audio_peaks


@pytest.mark.django_db
def test_a_wav_job_completed_through_the_sandbox_has_its_waveform(wallet, member):
    fields = {"prompt": "glass shattering", "duration_seconds": 4}
    job = pipeline.create_job(user=member, model_id="sonilo-v1-1-sound-effects", fields=fields)
    job = run_to_end(job)
    assert job.state == job.State.COMPLETED, job.error_message
    assert job.audio_format == "wav" and job.audio_peaks and max(job.audio_peaks) > 0.2


@pytest.mark.django_db
def test_audio_that_cannot_be_decoded_completes_without_a_waveform(wallet, member, monkeypatch):
    def broken(file, facts):
        raise RuntimeError("the decoder fell over")

    monkeypatch.setattr(waveform, "peaks", broken)
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    assert job.state == job.State.COMPLETED and job.audio_peaks == []
    assert job.audio_duration_s and job.audio.size == job.audio_bytes


@pytest.mark.django_db
def test_the_command_computes_the_waveforms_of_jobs_saved_before_them(wallet, member):
    done = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    computed = done.audio_peaks
    Job.objects.filter(pk=done.pk).update(audio_peaks=None)  # saved before waveforms existed

    def copy_with(content: bytes | None) -> Job:
        job = Job.objects.get(pk=done.pk)
        job.pk = job.queue_id = None
        job.save()
        if content is not None:
            job.audio = default_storage.save(f"audio/job-{job.pk}.mp3", ContentFile(content))
        else:
            job.audio = f"audio/job-{job.pk}-gone.mp3"
        job.save()
        return job

    garbage, missing = copy_with(b"<html>not audio</html>" * 50), copy_with(None)
    out = io.StringIO()
    call_command("waveforms", stdout=out)
    assert out.getvalue().strip() == (
        "1 waveforms computed, 1 files could not be decoded, 1 files missing"
    )
    assert Job.objects.get(pk=done.pk).audio_peaks == computed
    assert Job.objects.get(pk=garbage.pk).audio_peaks == []
    assert Job.objects.get(pk=missing.pk).audio_peaks is None

    out = io.StringIO()
    call_command("waveforms", stdout=out)  # what is done is not read again
    assert out.getvalue().startswith("0 waveforms computed, 0 files could not be decoded, 1")
