"""A real S3 API on loopback (moto's server mode), for the S3 storage path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.reliability_helpers import free_port

S3_ENV = {
    # moto accepts any credentials; boto3 insists on having some.
    "AWS_ACCESS_KEY_ID": "studio-test",
    "AWS_SECRET_ACCESS_KEY": "studio-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server in a thread; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
