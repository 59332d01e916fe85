"""python manage.py waveforms [--limit N]

The worker computes a job's waveform when it saves the audio; jobs finished before waveforms
existed have none (`audio_peaks` is null). This computes theirs from the stored files, oldest
first, and can be stopped and run again: a job it has done, or could not decode (`[]`), is not
read twice.
"""

from __future__ import annotations

import shutil
import tempfile

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand

from jobs import audio_file, waveform
from jobs.models import Job


class Command(BaseCommand):
    help = "Compute the waveform of finished jobs saved before waveforms existed."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, help="at most this many jobs")

    def handle(self, *args, limit: int | None = None, **options):
        missing = (
            Job.objects.filter(state=Job.State.COMPLETED, audio_peaks__isnull=True)
            .exclude(audio="")
            .order_by("pk")
            .values_list("pk", "audio")
        )
        drawn = undecodable = gone = 0
        for pk, name in missing[:limit] if limit else missing:
            try:
                peaks = _peaks_of(name)
            except OSError:  # the file is missing: nothing to draw, and nothing to record
                gone += 1
                continue
            Job.objects.filter(pk=pk, audio_peaks__isnull=True).update(audio_peaks=peaks or [])
            if peaks:
                drawn += 1
            else:
                undecodable += 1
        self.stdout.write(
            f"{drawn} waveforms computed, {undecodable} files could not be decoded, "
            f"{gone} files missing"
        )


def _peaks_of(name: str) -> list[float] | None:
    # Spooled like the worker's download: storage may be S3, whose files do not seek cheaply.
    with default_storage.open(name, "rb") as stored, tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(stored, spool, 64 * 1024)
        return waveform.peaks(spool, audio_file.inspect(spool))
