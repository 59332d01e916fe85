"""Waveforms on the pages (issue 13, item 2): inline SVG beside each player, on the job's page and
in the job list; a click seeks the player to that point, and what has played is tinted."""

from __future__ import annotations

import io
import math
import re
import struct

import pytest
from django.urls import reverse

from jobs.audio_file import inspect
from jobs.models import Job
from jobs.waveform import peaks
from sandbox.mp3 import Mp3Stream
from tests.browser_helpers import shot, sign_in
from tests.jobs_helpers import wav_file

from .ui_helpers import give_audio, make_job

SECONDS = 12
RATE = 8000


def swelling_wav() -> bytes:
    """SECONDS of a 220 Hz tone growing from silence to loud: a waveform with a clear shape."""
    step = 2 * math.pi * 220 / RATE
    frames = SECONDS * RATE
    pcm = b"".join(
        struct.pack("<h", round(30000 * (n / frames) * math.sin(step * n))) for n in range(frames)
    )
    return wav_file(pcm, RATE).getvalue()


def points(html: str) -> int:
    """How many points the page's waveform outline has."""
    path = re.search(r'<path d="M([^"]*)Z"/>', html).group(1)
    return len(path.replace("L", " ").split()) // 2


def sandbox_mp3(seconds: float) -> bytes:
    """The sandbox's music: plucked notes, as LAME encodes them."""
    return b"".join(Mp3Stream("a waveform on the page", seconds, 44_100, 2).chunks())


def finished_job(member, wallet, data: bytes | None = None, **fields) -> Job:
    """A finished job with real audio and the peaks the worker computes from it."""
    data = swelling_wav() if data is None else data
    job = give_audio(make_job(member, wallet, **fields), data)
    facts = inspect(io.BytesIO(data))
    job.audio_format, job.audio_content_type = facts.format, facts.content_type
    job.audio_duration_s = facts.seconds
    job.audio_peaks = peaks(io.BytesIO(data), facts)
    job.save()
    return job


@pytest.mark.django_db
def test_the_job_page_and_its_row_draw_the_waveform_for_their_player(client, member, wallet_row):
    job = finished_job(member, wallet_row)
    assert job.audio_peaks and job.audio_peaks[0] < 0.05 < 0.9 < job.audio_peaks[-1]
    client.force_login(member)
    page = client.get(job.get_absolute_url()).content.decode()
    assert page.count('<svg class="waveform" data-player="player"') == 1
    assert '<audio id="player"' in page and points(page) == 2 * len(job.audio_peaks)

    listing = client.get(reverse("jobs:list")).content.decode()
    assert f'<svg class="waveform" data-player="player-{job.pk}"' in listing
    assert f'/audio/" id="player-{job.pk}"' in listing
    assert points(listing) == 2 * 100, "a row draws fewer peaks, in less room"


@pytest.mark.django_db
def test_no_waveform_without_peaks_or_before_the_audio(client, member, wallet_row):
    undecodable = give_audio(make_job(member, wallet_row))  # audio_peaks is None
    running = make_job(member, wallet_row, state=Job.State.PROCESSING, audio_peaks=[0.5] * 10)
    client.force_login(member)
    for job in (undecodable, running):
        assert "waveform" not in client.get(job.get_absolute_url()).content.decode()
    listing = client.get(reverse("jobs:list")).content.decode()
    assert "<svg" not in listing and f'id="player-{undecodable.pk}"' in listing


# --- in the browser -----------------------------------------------------------------------------


def click_at(page, wave, fraction: float) -> None:
    box = wave.bounding_box()
    page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)


def wait_until_at(page, audio: str, fraction: float) -> float:
    """Wait for the player `audio` (a selector) to stand at `fraction` of its length; its time."""
    page.wait_for_function(
        "([selector, fraction]) => { const audio = document.querySelector(selector);"
        " return Math.abs(audio.currentTime / audio.duration - fraction) < 0.02; }",
        arg=[audio, fraction],
    )
    return page.locator(audio).evaluate("audio => audio.currentTime")


def loaded(page, audio: str) -> None:
    page.wait_for_function(
        "selector => Number.isFinite(document.querySelector(selector).duration)", arg=audio
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_click_on_the_waveform_seeks_its_player_there(page, member, wallet):
    drone = finished_job(member, wallet, prompt="A swelling drone")
    music = finished_job(member, wallet, sandbox_mp3(20), prompt="Plucked notes, as MP3")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, "member", "member-pass-123")

    # The job's page loads the length (preload="metadata"): the seek is at once.
    page.goto(drone.get_absolute_url())
    wave = page.locator('svg.waveform[data-player="player"]')
    loaded(page, "#player")
    click_at(page, wave, 0.25)
    assert abs(wait_until_at(page, "#player", 0.25) - SECONDS * 0.25) < 0.25
    # What has played is tinted: the played rectangle scales to the player's position.
    page.wait_for_function(
        "() => Math.abs(Number(document.querySelector('svg[data-player=player]')"
        ".style.getPropertyValue('--played')) - 0.25) < 0.03"
    )
    played = page.locator("svg.waveform .wave-played").bounding_box()
    assert abs(played["width"] / wave.bounding_box()["width"] - 0.25) < 0.03
    click_at(page, wave, 0.75)
    assert abs(wait_until_at(page, "#player", 0.75) - SECONDS * 0.75) < 0.25

    # A row's player has loaded nothing (preload="none"): the click loads the length, then seeks.
    page.goto(reverse("jobs:list"))
    row_player = f"#player-{music.pk}"
    assert page.locator(row_player).evaluate("audio => Number.isNaN(audio.duration)")
    click_at(page, page.locator(f'svg[data-player="player-{music.pk}"]'), 0.5)
    wait_until_at(page, row_player, 0.5)
    assert page.locator(f"#player-{drone.pk}").evaluate("audio => audio.currentTime") == 0
    shot(page, "waveform-jobs")

    # The sandbox's MP3 on its page, at desktop width and on a phone.
    page.goto(music.get_absolute_url())
    loaded(page, "#player")
    click_at(page, wave, 0.4)
    wait_until_at(page, "#player", 0.4)
    shot(page, "waveform-job")
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(music.get_absolute_url())
    assert wave.bounding_box()["width"] <= 375 - 2 * 16
    loaded(page, "#player")
    click_at(page, wave, 0.6)
    wait_until_at(page, "#player", 0.6)
    shot(page, "waveform-job-375")
    assert not errors, errors
