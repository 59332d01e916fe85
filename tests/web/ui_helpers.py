"""Rows for the page tests, made directly in the database (no Venice call, no worker)."""

from __future__ import annotations

import io
import wave
from datetime import date
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone

from jobs.models import Job, JobEvent
from studio.models import Prompt
from studio.versioning import save_prompt
from wallets.models import Wallet

# Audio bytes whose every offset holds a known value, for Range checks.
AUDIO = bytes(range(256)) * 40  # 10,240 bytes


def make_wallet(name: str = "team") -> Wallet:
    return Wallet.objects.create(
        name=name,
        kind=Wallet.Kind.EVM,
        address="0x" + "ab" * 20,
        secret_encrypted="-",
        is_default=True,
        credit_usd=Decimal("12.5"),
        usdc_balance=Decimal("990"),
    )


def make_job(user, wallet, **fields) -> Job:
    values = {
        "model_id": "elevenlabs-music",
        "model_name": "ElevenLabs Music",
        "prompt": "warm lo-fi beat with soft piano",
        "duration_seconds": 30,
        "quoted_usd": Decimal("0.5"),
        "budget_month": date.today().replace(day=1),
        "state": Job.State.COMPLETED,
    }
    values.update(fields)
    job = Job.objects.create(user=user, wallet=wallet, **values)
    JobEvent.objects.create(job=job, state=Job.State.PENDING, note="Priced at $0.50")
    if job.state != Job.State.PENDING:
        JobEvent.objects.create(job=job, state=job.state)
    return job


def processing_job(user, wallet, done_ms: int, estimate_ms: int, **fields) -> Job:
    """A job Venice is working on, ``done_ms`` into its estimated ``estimate_ms``."""
    return make_job(
        user,
        wallet,
        state=Job.State.PROCESSING,
        execution_duration_ms=done_ms,
        average_execution_time_ms=estimate_ms,
        **fields,
    )


def unsaved_job(user, wallet, n: int, **fields) -> Job:
    """The ``n``th of a page's worth of jobs, for one ``bulk_create`` (no events)."""
    return Job(
        user=user,
        wallet=wallet,
        model_id="m",
        prompt=f"tune {n}",
        quoted_usd=1,
        budget_month="2025-01-01",
        **fields,
    )


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(range(256)) * int(seconds * rate * 2 / 256))
    return buffer.getvalue()


def give_audio(job: Job, data: bytes | None = None) -> Job:
    data = wav_bytes() if data is None else data
    job.audio.save(f"job-{job.pk}.wav", ContentFile(data), save=False)
    job.audio_bytes = len(data)
    job.audio_content_type = "audio/wav"
    job.audio_format = "wav"
    job.audio_duration_s = 1.0
    job.finished_at = timezone.now()
    job.save()
    return job


def make_prompt(author, **fields) -> Prompt:
    tags = fields.pop("tags", [])
    values = {
        "title": "Night drive",
        "text": "synthwave with a slow arpeggio",
        "model_id": "elevenlabs-music",
        "settings": {"duration_seconds": 60},
    }
    values.update(fields)
    prompt = Prompt(author=author, **values)
    prompt.set_tags(tags)
    save_prompt(prompt, author)  # version 1, as the library's own forms make it
    return prompt
