"""The audio view: streamed from storage, seekable (HTTP Range), with a sensible file name."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job
from jobs.ranges import parse_range

from .ui_helpers import AUDIO, give_audio, make_job, make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_whole_file_with_headers(client, member, audio_job):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[audio_job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(len(AUDIO))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == (
        f'inline; filename="elevenlabs-music-calm-piano-at-dusk-{audio_job.pk}.wav"'
    )
    assert body(response) == AUDIO


def test_download_is_an_attachment(client, member, audio_job):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[audio_job.pk]), {"download": "1"})
    assert response["Content-Disposition"].startswith("attachment; filename=")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(AUDIO) - 1),
        ("bytes=-500", len(AUDIO) - 500, len(AUDIO) - 1),
        ("bytes=10000-99999", 10000, len(AUDIO) - 1),
    ],
)
def test_ranges(client, member, audio_job, header, start, end):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[audio_job.pk]), headers={"Range": header})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == AUDIO[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=20000-", "bytes=-0", "bytes=50-10"])
def test_unsatisfiable_range_is_416(client, member, audio_job, header):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[audio_job.pk]), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


def test_malformed_or_multiple_ranges_get_the_whole_file(client, member, audio_job):
    client.force_login(member)
    for header in ("bytes=0-1,5-9", "pages=1-2", "bytes=abc"):
        response = client.get(reverse("jobs:audio", args=[audio_job.pk]), headers={"Range": header})
        assert response.status_code == 200 and body(response) == AUDIO


def test_parse_range_edges():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=-20", 10) == (0, 9)
    assert parse_range("bytes=0-", 0) is False


def test_another_members_private_audio_is_404(client, member, audio_job, django_user_model):
    other = django_user_model.objects.create_user("other", password="x")
    secret = give_audio(make_job(other, audio_job.wallet, private=True), AUDIO)
    shared = give_audio(make_job(other, audio_job.wallet), AUDIO)
    client.force_login(member)
    assert client.get(reverse("jobs:audio", args=[secret.pk])).status_code == 404
    assert client.get(reverse("jobs:audio", args=[shared.pk])).status_code == 200


def test_no_audio_before_the_job_is_done(client, member):
    running = make_job(member, make_wallet(), state=Job.State.PROCESSING)
    client.force_login(member)
    assert client.get(reverse("jobs:audio", args=[running.pk])).status_code == 404


def test_missing_file_is_404(client, member, audio_job, tmp_path):
    (tmp_path / audio_job.audio.name).unlink()
    client.force_login(member)
    assert client.get(reverse("jobs:audio", args=[audio_job.pk])).status_code == 404
