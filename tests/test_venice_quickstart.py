"""examples/quickstart.py runs end to end against the sandbox and leaves a playable WAV."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart.py"


def test_quickstart_saves_a_track(sandbox, tmp_path):
    out = tmp_path / "track.wav"
    run = subprocess.run(
        [sys.executable, str(QUICKSTART), sandbox.api_url, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the script must not depend on the working directory
    )
    assert run.returncode == 0, run.stderr
    assert "credited 5 USD" in run.stdout
    assert len(QUICKSTART.read_text().splitlines()) <= 40
    with wave.open(str(out)) as track:
        assert track.getnchannels() == 2
        assert round(track.getnframes() / track.getframerate()) == 10
