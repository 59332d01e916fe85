"""Serving a stored file with HTTP byte ranges (RFC 9110 §14), so that a player can seek."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import IO, Literal

from django.http import FileResponse, HttpResponse

# ASCII digits only (RFC 9110's DIGIT; `\d` would take any script's), matched whole (`$` would
# let a trailing newline through).
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# No file is this large, and no HTTP stack counts bytes past it. Checked on the digits, before
# int(): Python refuses to convert more than 4,300 digits, which used to answer 500.
_MAX_POSITION = 2**63 - 1


class _Slice:
    """A read-only window [start, start + length) of an open file, for FileResponse to stream."""

    def __init__(self, file: IO[bytes], start: int, length: int):
        self.file = file
        self.left = length
        file.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        chunk = self.file.read(size)
        self.left -= len(chunk)
        return chunk

    def close(self) -> None:
        self.file.close()


def _position(digits: str) -> int | None:
    """A byte position from a header, or None if it is beyond any file."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(_MAX_POSITION)) or int(digits) > _MAX_POSITION:
        return None
    return int(digits)


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """One `bytes=` range as (start, end) inclusive; None to send it all; False if unsatisfiable.

    Several ranges or a malformed header are answered with the whole file, as RFC 9110 allows;
    a position beyond any file (more than 2**63 - 1) is unsatisfiable.
    """
    match = _RANGE.fullmatch((header or "").strip(" \t"))
    if not match or match.groups() == ("", ""):
        return None
    start_digits, end_digits = match.groups()
    start = _position(start_digits) if start_digits else None
    end = _position(end_digits) if end_digits else None
    if (start_digits and start is None) or (end_digits and end is None):
        return False
    if start is None:  # the last N bytes
        if end == 0 or size == 0:
            return False
        return max(0, size - end), size - 1
    if start >= size or (end is not None and end < start):
        return False
    return start, size - 1 if end is None else min(end, size - 1)


def ranged_response(
    open_file: Callable[[], IO[bytes]],
    size: int,
    range_header: str | None,
    *,
    content_type: str,
    filename: str,
    as_attachment: bool = False,
) -> HttpResponse:
    """The file (`open_file()`, opened only if some of it is sent), whole (200), the one range
    asked for (206), or 416 for a range outside it."""
    wanted = parse_range(range_header, size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = wanted, 206
    response = FileResponse(
        _Slice(open_file(), start, end - start + 1),
        status=status,
        content_type=content_type,
        as_attachment=as_attachment,
        filename=filename,
    )
    response["Content-Length"] = str(end - start + 1)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
