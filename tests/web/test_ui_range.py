"""Any Range header gets 200, 206 or 416 from the audio view: never a 500 (issue 17, item 6)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobs.ranges import parse_range

from .ui_helpers import AUDIO

pytestmark = pytest.mark.django_db

CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Numbers of any length: Python refuses int() of more than 4,300 digits.
DIGITS = st.one_of(
    st.integers(min_value=0, max_value=20_000).map(str),
    st.text("0123456789", min_size=1, max_size=6000),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=6000).map(lambda n: "0" * n + "7"),
    st.sampled_from(["٣", "²", "１"]),  # digits of other scripts, which int() also reads
)
PIECE = st.one_of(DIGITS, st.just(""))
RANGE_LIKE = st.builds(
    lambda unit, a, b, more, pad: f"{pad}{unit}={a}-{b}{more}{pad}",
    st.sampled_from(["bytes", "BYTES", "bits", ""]),
    PIECE,
    PIECE,
    st.sampled_from(["", ",0-1", ", -5", "-", "\n", "\x00"]),
    st.sampled_from(["", " ", "\t"]),
)
# Well-formed single ranges, around and far past the file's 10,240 bytes.
RANGE = st.builds(lambda a, b: f"bytes={a}-{b}", PIECE, PIECE)
ANY_HEADER = st.one_of(RANGE, RANGE_LIKE, st.text(max_size=200))


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_any_range_header_is_answered_200_206_or_416(client, member, audio_job):
    client.force_login(member)
    url = reverse("jobs:audio", args=[audio_job.pk])
    seen = {200: 0, 206: 0, 416: 0}

    @PROPERTY
    @given(header=ANY_HEADER)
    @example(header="bytes=0-99")
    @example(header="bytes=-" + "9" * 5000)
    @example(header="bytes=abc")
    def check(header):
        response = client.get(url, headers={"Range": header})
        assert response.status_code in seen, (header[:80], response.status_code)
        seen[response.status_code] += 1
        if response.status_code == 416:
            assert response["Content-Range"] == f"bytes */{len(AUDIO)}"
        elif response.status_code == 206:
            start, end, size = map(int, CONTENT_RANGE.fullmatch(response["Content-Range"]).groups())
            assert size == len(AUDIO) and 0 <= start <= end < size
            assert body(response) == AUDIO[start : end + 1]
            assert response["Content-Length"] == str(end - start + 1)
        else:
            assert body(response) == AUDIO

    check()
    # Every kind of answer was met (the examples above make sure of it).
    assert all(seen.values()), seen


@pytest.mark.parametrize(
    "header",
    [
        "bytes=-" + "9" * 5000,  # the report: a suffix length Python cannot convert
        "bytes=0-" + "9" * 5000,
        "bytes=" + "9" * 5000 + "-",
        "bytes=-" + "1" * 30,  # converts, but is past any file
        "bytes=-9223372036854775808",
    ],
)
def test_a_position_past_any_file_is_416(client, member, audio_job, header):
    client.force_login(member)
    response = client.get(reverse("jobs:audio", args=[audio_job.pk]), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


def test_leading_zeros_of_any_length_are_still_a_small_number():
    assert parse_range("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", 100) == (5, 9)
    assert parse_range("bytes=-9223372036854775807", 100) == (0, 99)


@pytest.mark.parametrize("header", ["bytes=٣-", "bytes=0-5\n", "bytes=0-5\x00", "bytes =0-5"])
def test_what_is_not_a_range_of_ascii_digits_gets_the_whole_file(header):
    assert parse_range(header, 100) is None
