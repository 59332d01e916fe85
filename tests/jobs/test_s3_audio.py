"""Audio on S3: the django-storages path against a real S3 API server on loopback (moto),
a job's audio saved there by the pipeline, then played with Range requests and downloaded
through Studio's audio view."""

from __future__ import annotations

import boto3
import pytest
from django.core.files.storage import default_storage

from jobs import pipeline
from jobs.models import Job
from tests.jobs_helpers import MUSIC, run_to_end
from tests.s3_helpers import S3_ENV, make_bucket, s3_server

pytestmark = pytest.mark.django_db
BUCKET = "studio-audio"


@pytest.fixture(scope="module")
def s3_endpoint():
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(settings, monkeypatch, s3_endpoint):
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    make_bucket(s3_endpoint, BUCKET)
    # What studio/settings.py builds from AWS_STORAGE_BUCKET_NAME and AWS_S3_ENDPOINT_URL.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "default_acl": "private",
                "querystring_auth": True,
            },
        },
    }
    return boto3.client("s3", endpoint_url=s3_endpoint)


def test_audio_is_stored_on_s3_and_served_with_ranges(s3, client, member, wallet):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    assert job.state == Job.State.COMPLETED, job.error_message
    stored = s3.get_object(Bucket=BUCKET, Key=job.audio.name)["Body"].read()
    assert len(stored) == job.audio_bytes > 1000
    assert type(default_storage._wrapped).__name__ == "S3Storage"

    client.force_login(member)
    url = f"/jobs/{job.pk}/audio/"
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == stored

    part = client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-1099/{len(stored)}"
    assert b"".join(part.streaming_content) == stored[100:1100]

    tail = client.get(url, HTTP_RANGE="bytes=-500")
    assert b"".join(tail.streaming_content) == stored[-500:]

    beyond = client.get(url, HTTP_RANGE=f"bytes={len(stored)}-")
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(stored)}"

    download = client.get(url + "?download=1")
    assert download["Content-Disposition"].startswith("attachment;")
    assert b"".join(download.streaming_content) == stored


def test_an_object_missing_from_the_bucket_is_a_404(s3, client, member, wallet):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    s3.delete_object(Bucket=BUCKET, Key=job.audio.name)
    client.force_login(member)
    assert client.get(f"/jobs/{job.pk}/audio/").status_code == 404
