"""A collection's zip: every sound once under its download name, and streamed: however many
megabytes of audio go through, memory holds about one chunk."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
import zipfile

import pytest

from jobs.delivery import audio_filename
from jobs.models import Job
from sounds import zips
from tests.sounds_helpers import kept_sound
from tests.web.ui_helpers import make_wallet

pytestmark = pytest.mark.django_db


def test_names_are_the_download_names_and_a_repeated_one_gets_a_number():
    def job(pk, fmt="wav"):
        return Job(pk=pk, model_id="sfx", prompt="door creak", audio_format=fmt)

    named = [name for _, name in zips.unique_names([job(7), job(7), job(7), job(8, "mp3")])]
    assert named == [
        "sfx-door-creak-7.wav",
        "sfx-door-creak-7-2.wav",
        "sfx-door-creak-7-3.wav",
        "sfx-door-creak-8.mp3",
    ]


def test_the_zip_holds_each_sound_whole_under_its_name(member):
    wallet = make_wallet()
    sounds = [
        kept_sound(member, wallet, prompt=f"sound {n}", data=os.urandom(50_000 + n))
        for n in range(3)
    ]
    data = b"".join(zips.stream(sounds))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [audio_filename(job) for job in sounds]
        for job in sounds:
            with job.audio.open("rb") as original:
                assert archive.read(audio_filename(job)) == original.read()


def test_a_missing_file_is_left_out_and_the_rest_arrive(member):
    wallet = make_wallet()
    there, missing = kept_sound(member, wallet), kept_sound(member, wallet)
    missing.audio.storage.delete(missing.audio.name)
    with zipfile.ZipFile(io.BytesIO(b"".join(zips.stream([missing, there])))) as archive:
        assert archive.namelist() == [audio_filename(there)]


def test_several_megabytes_stream_through_in_bounded_memory(member, tmp_path):
    wallet = make_wallet()
    size = 3 * 1024 * 1024
    sounds = [
        kept_sound(member, wallet, prompt=f"long take {n}", data=os.urandom(size)) for n in range(4)
    ]  # 12 MB of audio
    digests = {}
    for job in sounds:
        with job.audio.open("rb") as original:
            digests[audio_filename(job)] = hashlib.sha256(original.read()).hexdigest()
    out = tmp_path / "collection.zip"
    largest = 0
    tracemalloc.start()
    try:
        with out.open("wb") as file:
            for chunk in zips.stream(sounds):
                largest = max(largest, len(chunk))
                file.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert largest <= zips.CHUNK + 1024
    assert peak < 1024 * 1024, peak  # under 1 MB for 12 MB of audio
    with zipfile.ZipFile(out) as archive:
        assert {
            info.filename: hashlib.sha256(archive.read(info)).hexdigest()
            for info in archive.infolist()
        } == digests
