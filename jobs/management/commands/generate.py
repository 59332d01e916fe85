"""python manage.py generate --model M --prompt P [...] --wait --out FILE

Runs the same pipeline as the web form: validated, priced and reserved here, then submitted,
polled and saved by the worker (`make run` starts it). Prints one JSON line.
"""

from __future__ import annotations

import json
import shutil
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs import pipeline
from jobs.models import Job
from venice import QueueOptions
from wallets.models import Wallet


class Command(BaseCommand):
    help = "Generate audio with a Venice model, as a team member would from the dashboard."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True)
        # Each option's dest is its QueueOptions name.
        parser.add_argument("--prompt", required=True)
        parser.add_argument(
            "--duration", type=int, dest="duration_seconds", metavar="DURATION", help="seconds"
        )
        parser.add_argument("--lyrics", dest="lyrics_prompt", metavar="LYRICS")
        parser.add_argument("--lyrics-optimizer", action="store_true")
        parser.add_argument("--instrumental", action="store_true", dest="force_instrumental")
        parser.add_argument("--voice")
        parser.add_argument("--language", dest="language_code", metavar="LANGUAGE")
        parser.add_argument("--speed", type=float)
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--wallet", help="wallet name (default: the team's default wallet)")
        parser.add_argument("--user", default="admin", help="who the job is for (default: admin)")
        parser.add_argument("--wait", action="store_true", help="wait for the audio")
        parser.add_argument("--timeout", type=float, default=900, help="seconds to wait")
        parser.add_argument("--out", help="where to write the audio (with --wait)")

    def handle(self, *args, **o):
        user = get_user_model().objects.filter(username=o["user"]).first()
        if user is None:
            raise CommandError(f"No user named {o['user']!r}")
        wallet = None
        if o["wallet"]:
            wallet = Wallet.objects.filter(name=o["wallet"]).first()
            if wallet is None:
                raise CommandError(f"No wallet named {o['wallet']!r}")
        if o["out"] and not o["wait"]:
            raise CommandError("--out needs --wait")
        # A switch left off is left out: Venice applies the model's default.
        fields = {
            name: o[name]
            for name in QueueOptions.names()
            if o[name] is not None and o[name] is not False
        }
        started = time.monotonic()
        try:
            job = pipeline.create_job(user=user, model_id=o["model"], fields=fields, wallet=wallet)
        except pipeline.JobRejected as exc:
            raise CommandError(str(exc)) from exc
        if o["wait"]:
            job = self.wait(job, o["timeout"])
        if job.state == Job.State.COMPLETED and o["out"]:
            with job.audio.open("rb") as source, open(o["out"], "wb") as target:
                shutil.copyfileobj(source, target)
        cost = job.settled_usd if job.state == Job.State.COMPLETED else job.quoted_usd
        self.stdout.write(
            json.dumps(
                {
                    "job": job.pk,
                    "status": job.state,
                    "cost_usd": str(cost),
                    "seconds": round(time.monotonic() - started, 2),
                    # What the saved file is (read from it), empty until the job completes.
                    "format": job.audio_format or None,
                    "audio_seconds": job.audio_duration_s,
                    **({"error": job.error_message} if job.error_message else {}),
                    **({"suggested_prompt": job.suggested_prompt} if job.suggested_prompt else {}),
                    **({"out": o["out"]} if o["out"] and job.state == Job.State.COMPLETED else {}),
                }
            )
        )
        if o["wait"] and job.state != Job.State.COMPLETED:
            raise CommandError(
                f"Job {job.pk} ended {job.get_state_display().lower()}: "
                f"{job.error_message or 'see its timeline'}"
            )

    def wait(self, job: Job, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        while job.is_running and time.monotonic() < deadline:
            time.sleep(0.25)
            job.refresh_from_db()
        if job.is_running:
            raise CommandError(
                f"Job {job.pk} still {job.state} after {timeout:.0f} s; is the worker "
                f"running (make run)?"
            )
        return job
