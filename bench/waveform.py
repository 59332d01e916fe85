"""The worker's CPU time to compute a saved file's waveform (jobs.waveform.peaks), per minute of
audio, for the files Venice sends: MP3 (most music and speech) and WAV. Target: under 100 ms.

    .venv/bin/python bench/waveform.py [--json]

The audio is the sandbox's (its plucked notes, encoded with LAME for MP3), three minutes of CD
stereo and of 24 kHz mono speech, read from a temporary file as the worker reads its spool. The
time is `time.process_time`, the median of several runs: what the worker's process spends, not
what the shared machine's other load adds to the wall clock. A silent track is timed too: the
peak search tries the most levels there.

`run(quick)` is bench/run.py's entry point; `waveform_cpu_ms_per_audio_min` (the worse of MP3
and WAV) is its headline figure. Beside it, the CPU an MP3 download of a WAV original costs
(jobs.mp3.encode, the whole stream), per minute of audio: it is spent on each download.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs import mp3  # noqa: E402
from jobs.audio_file import inspect  # noqa: E402
from jobs.waveform import peaks  # noqa: E402
from sandbox.audio import WavStream  # noqa: E402
from sandbox.mp3 import Mp3Stream  # noqa: E402

TARGET_MS = 100
# (name, stream class, sample rate, channels): what Venice's music and speech models send.
KINDS = [
    ("mp3_music", Mp3Stream, 44_100, 2),
    ("wav_music", WavStream, 44_100, 2),
    ("mp3_speech", Mp3Stream, 24_000, 1),
    ("wav_speech", WavStream, 24_000, 1),
]


def silent_wav(seconds: float, sample_rate: int, channels: int) -> Iterator[bytes]:
    stream = WavStream("silence", seconds, sample_rate, channels)
    yield stream.header()
    left = stream.content_length - len(stream.header())
    while left > 0:
        size = min(left, 1 << 20)
        yield bytes(size)
        left -= size


def cpu_ms_per_minute(chunks: Iterator[bytes], runs: int) -> tuple[float, int]:
    """Median CPU ms per minute of audio over `runs`, and how many peaks came out."""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        facts = inspect(spool)
        samples, found = [], None
        for _ in range(runs):
            started = time.process_time()
            found = peaks(spool, facts)
            samples.append(time.process_time() - started)
    if not found:
        raise RuntimeError("the benchmark's own audio did not decode")
    return statistics.median(samples) * 1000 / (facts.seconds / 60), len(found)


def mp3_cpu_ms_per_minute(chunks: Iterator[bytes], runs: int) -> float:
    """Median CPU ms per minute of audio to encode a WAV as the MP3 download streams it."""
    with tempfile.NamedTemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.flush()
        facts = inspect(spool)
        samples, size = [], 0
        for _ in range(runs):
            source = open(spool.name, "rb")  # noqa: SIM115 (encode closes it at the end)
            started = time.process_time()
            size = sum(len(part) for part in mp3.encode(source, facts))
            samples.append(time.process_time() - started)
    if not size:
        raise RuntimeError("the benchmark's own WAV did not encode")
    return statistics.median(samples) * 1000 / (facts.seconds / 60)


def measure(seconds: float, runs: int) -> dict:
    results: dict = {"audio_seconds": seconds, "runs": runs}
    for name, stream, sample_rate, channels in KINDS:
        audio = stream(f"waveform bench {name}", seconds, sample_rate, channels)
        ms, bars = cpu_ms_per_minute(audio.chunks(), runs)
        results[f"{name}_cpu_ms_per_min"] = round(ms, 1)
        results["bars"] = bars
    for name, stream, sample_rate, channels in KINDS:
        if stream is WavStream:
            audio = stream(f"mp3 bench {name}", seconds, sample_rate, channels)
            ms = mp3_cpu_ms_per_minute(audio.chunks(), runs)
            results[f"mp3_download_{name}_cpu_ms_per_min"] = round(ms, 1)
    ms, _ = cpu_ms_per_minute(silent_wav(seconds, 44_100, 2), runs)
    results["wav_silence_cpu_ms_per_min"] = round(ms, 1)
    worst = max(results["mp3_music_cpu_ms_per_min"], results["wav_music_cpu_ms_per_min"])
    results["waveform_cpu_ms_per_audio_min"] = worst
    results["target_ms"] = TARGET_MS
    return results


def run(quick: bool = False) -> dict:
    return measure(60.0 if quick else 180.0, 3 if quick else 7)


def main() -> None:
    results = run()
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2))
        return
    print(
        f"waveform peaks, worker CPU per minute of audio (median of {results['runs']} runs "
        f"over {results['audio_seconds']:.0f} s, {results['bars']} bars):"
    )
    for name, *_ in KINDS:
        print(f"  {name:12} {results[f'{name}_cpu_ms_per_min']:7.1f} ms")
    print(f"  {'wav_silence':12} {results['wav_silence_cpu_ms_per_min']:7.1f} ms")
    worst = results["waveform_cpu_ms_per_audio_min"]
    verdict = "ok" if worst < TARGET_MS else "MISSED"
    print(f"waveform_cpu_ms_per_audio_min {worst:.1f} (target < {TARGET_MS}) {verdict}")
    print("MP3 download of a WAV original, worker CPU per minute of audio:")
    for name, stream, *_ in KINDS:
        if stream is WavStream:
            print(f"  {name:12} {results[f'mp3_download_{name}_cpu_ms_per_min']:7.1f} ms")


if __name__ == "__main__":
    main()
