"""examples/quickstart.py runs end to end against the sandbox and leaves a playable track."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mutagen

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_saves_a_track(sandbox, tmp_path):
    run = subprocess.run(
        [sys.executable, str(QUICKSTART), sandbox.api_url, str(tmp_path / "track")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the script must not depend on the working directory
    )
    assert run.returncode == 0, run.stderr
    assert "credited 5 USD" in run.stdout
    assert len(QUICKSTART.read_text().splitlines()) <= 40
    # elevenlabs-music answers MP3 (§8): the file is named for what it is.
    track = mutagen.File(tmp_path / "track.mp3")
    assert track is not None and track.info.channels == 2
    assert round(track.info.length) == 10
    assert "saved" in run.stdout and "audio/mpeg" in run.stdout
