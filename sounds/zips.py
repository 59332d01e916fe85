"""A collection as one zip, written as it is sent.

zipfile writes into a sink that only appends (no seek), so it puts each file's sizes after its
data; after every chunk copied from storage the sink is emptied into the response. At most one
chunk and one entry's header are in memory at a time, whatever the collection's size. Audio is
stored, not deflated: MP3 and the like do not shrink, and deflating WAV would cost the web
process CPU for little.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable, Iterator

from django.core.files.storage import default_storage

from jobs.delivery import audio_filename
from jobs.models import Job

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


class _Sink:
    """A write-only file for zipfile: what it is given waits here until `take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def unique_names(jobs: Iterable[Job], title: str = "") -> Iterator[tuple[Job, str]]:
    """Each job with its download name (from `title` rather than the prompt's words, when given);
    a name seen before gets -2, -3... before its extension."""
    seen: set[str] = set()
    for job in jobs:
        name = audio_filename(job, title=f"{title} {job.pk}" if title else "")
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        n = 1
        while name.lower() in seen:
            n += 1
            name = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
        seen.add(name.lower())
        yield job, name


def stream(jobs: Iterable[Job], title: str = "") -> Iterator[bytes]:
    """The zip's bytes, chunk by chunk (names as `unique_names` gives them). A file missing from
    storage is left out (and logged): the rest still arrive."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for job, name in unique_names(jobs, title):
            try:
                source = default_storage.open(job.audio.name, "rb")
            except OSError as exc:
                log.warning("job %s: audio left out of a zip: %s", job.pk, exc)
                continue
            with source:
                made = job.finished_at or job.created_at
                info = zipfile.ZipInfo(name, date_time=made.timetuple()[:6])
                big = (job.audio_bytes or 0) >= zipfile.ZIP64_LIMIT
                with archive.open(info, mode="w", force_zip64=big) as entry:
                    while chunk := source.read(CHUNK):
                        entry.write(chunk)
                        if data := sink.take():
                            yield data
            if data := sink.take():
                yield data
    yield sink.take()
