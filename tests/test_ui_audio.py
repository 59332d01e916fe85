"""The audio view: streamed from storage, seekable (HTTP Range), with a sensible file name."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job
from jobs.ranges import parse_range

from .ui_helpers import give_audio, make_job, make_wallet

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def job(member):
    job = make_job(member, make_wallet(), prompt="Calm piano at dusk!", model_id="elevenlabs-music")
    return give_audio(job, DATA)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_whole_file_with_headers(client, member, job):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(len(DATA))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == (
        f'inline; filename="elevenlabs-music-calm-piano-at-dusk-{job.pk}.wav"'
    )
    assert body(response) == DATA


def test_download_is_an_attachment(client, member, job):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[job.pk]), {"download": "1"})
    assert response["Content-Disposition"].startswith("attachment; filename=")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(DATA) - 1),
        ("bytes=-500", len(DATA) - 500, len(DATA) - 1),
        ("bytes=10000-99999", 10000, len(DATA) - 1),
    ],
)
def test_ranges(client, member, job, header, start, end):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[job.pk]), headers={"Range": header})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == DATA[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=20000-", "bytes=-0", "bytes=50-10"])
def test_unsatisfiable_range_is_416(client, member, job, header):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[job.pk]), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


def test_malformed_or_multiple_ranges_get_the_whole_file(client, member, job):
    client.force_login(member)
    for header in ("bytes=0-1,5-9", "pages=1-2", "bytes=abc"):
        response = client.get(reverse("jobs:audio", args=[job.pk]), headers={"Range": header})
        assert response.status_code == 200 and body(response) == DATA


def test_parse_range_edges():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=-20", 10) == (0, 9)
    assert parse_range("bytes=0-", 0) is False


def test_another_members_private_audio_is_404(client, member, job, django_user_model):
    other = django_user_model.objects.create_user("other", password="x")
    secret = give_audio(make_job(other, job.wallet, private=True), DATA)
    shared = give_audio(make_job(other, job.wallet), DATA)
    client.force_login(member)
    assert client.get(reverse("jobs:audio", args=[secret.pk])).status_code == 404
    assert client.get(reverse("jobs:audio", args=[shared.pk])).status_code == 200


def test_no_audio_before_the_job_is_done(client, member):
    running = make_job(member, make_wallet(), state=Job.State.PROCESSING)
    client.force_login(member)
    assert client.get(reverse("jobs:audio", args=[running.pk])).status_code == 404


def test_missing_file_is_404(client, member, job, tmp_path):
    (tmp_path / job.audio.name).unlink()
    client.force_login(member)
    assert client.get(reverse("jobs:audio", args=[job.pk])).status_code == 404
