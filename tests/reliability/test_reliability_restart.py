"""Restart the web server and the worker while members submit: no job and no audio is lost.

Members sign in and submit through the real generate form served by gunicorn (the production
server) while a cluster works. In the middle: a graceful worker restart (SIGTERM, as a deploy
does), a graceful web restart, a worker crash (SIGKILL of the whole cluster) and a web crash.
A submission that meets a dead server is submitted again, as a member would. Afterwards every
job a member was told about exists and every job in the database completed with its own,
intact audio; sessions survived the restarts (the session store is the database).
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import httpx

from jobs.models import Job
from tests.reliability_helpers import (
    CSRF_TOKEN,
    TENFOLD_PACING,
    WITH_PROCESSES,
    Cluster,
    WebServer,
    audio_files,
    check_invariants,
    database_url,
    drive_to_the_end,
    free_port,
    leases_run_out,
    record,
)
from wallets import keys

pytestmark = WITH_PROCESSES

PASSWORD = "member-pass-123"
PACE_S = 0.4
JOB_URL = re.compile(r"^/jobs/(\d+)/$")


class Member(threading.Thread):
    """Signs in once, then submits through the generate form every PACE_S, trying again when
    the server is away, until told to stop (or time runs out)."""

    def __init__(self, base: str, username: str, deadline: float):
        super().__init__(daemon=True, name=username)
        self.base, self.username, self.deadline = base, username, deadline
        self.stopping = threading.Event()
        self.job_ids: list[int] = []
        self.attempts = 0
        self.server_away = 0
        self.sign_ins = 0
        self.problems: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=20) as client:
            while not self.stopping.is_set() and time.monotonic() < self.deadline:
                try:
                    self.submit(client)
                except (httpx.TransportError, httpx.RemoteProtocolError):
                    self.server_away += 1
                self.stopping.wait(PACE_S)

    def sign_in(self, client: httpx.Client) -> None:
        page = client.get("/login/")
        client.post(
            "/login/",
            data={
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1),
            },
        )
        self.sign_ins += 1

    def submit(self, client: httpx.Client) -> None:
        page = client.get("/?model=elevenlabs-sound-effects-v2")
        if page.status_code == 302:  # not signed in (first time, or the session was lost)
            self.sign_in(client)
            return
        if page.status_code != 200:
            self.problems.append(f"generate page answered {page.status_code}")
            return
        n = len(self.job_ids)
        self.attempts += 1
        answer = client.post(
            "/",
            data={
                "model": "elevenlabs-sound-effects-v2",
                "prompt": f"{self.username} footsteps on gravel, take {n}",
                # Lengths (so prices) of this member's own: two queue calls that one crash cuts
                # at once are then told apart in Venice's ledger. Two of one price are left for
                # an admin, which test_reliability_review.py covers.
                "duration_seconds": str(1 + 5 * int(self.username.removeprefix("member")) + n % 3),
                "csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1),
            },
        )
        match = JOB_URL.match(answer.headers.get("location", ""))
        if answer.status_code == 302 and match:
            self.job_ids.append(int(match.group(1)))
        else:
            self.problems.append(f"submit answered {answer.status_code}")


def test_restarting_web_server_and_worker_mid_run_loses_no_job_and_no_audio(
    venice, tmp_path, settings, django_user_model
):
    started = time.monotonic()
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    # Four members submitting every PACE_S outrun Venice's 40 queue calls a minute per wallet;
    # the restarts, not the rate limit, are this test's subject (as in the soak).
    venice.configure(queue_per_minute=400, retrieve_per_minute=1200)
    wallet = keys.create_evm_wallet("team", make_default=True)
    venice.faucet(wallet.address, "1000")
    names = [f"member{n}" for n in range(4)]
    for name in names:
        django_user_model.objects.create_user(name, password=PASSWORD)

    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "VENICE_API_BASE": venice.api_url,
        "CHAIN_RPC_URL": venice.rpc_url,
        "MEDIA_ROOT": str(media),
    }
    port = free_port()
    web = WebServer(port, env, tmp_path / "gunicorn.log", "--graceful-timeout", "20")
    web.start()
    worker = Cluster(venice, media, tmp_path / "qcluster.log", workers=2, env=TENFOLD_PACING)
    worker.start()

    members = [
        Member(f"http://127.0.0.1:{port}", name, deadline=time.monotonic() + 90) for name in names
    ]
    for member in members:
        member.start()

    def restart_worker(crash: bool) -> float:
        """How long the graceful stop took (a crash takes no time)."""
        took = 0
        if crash:
            worker.kill()
            leases_run_out()  # the restart comes after the dead worker's leases ran out
        else:
            took = round(worker.stop(), 1)
        worker.start(0)
        return took

    def restart_web(crash: bool) -> float:
        if crash:
            web.kill()
        else:
            web.stop()
        web.start()
        return 0

    events = []
    try:
        for event, restart, crash in (
            ("worker restart (SIGTERM)", restart_worker, False),
            ("web restart (SIGTERM)", restart_web, False),
            ("worker crash (SIGKILL)", restart_worker, True),
            ("web crash (SIGKILL)", restart_web, True),
        ):
            time.sleep(2)
            events.append((event, restart(crash)))
        time.sleep(1.5)
        for member in members:
            member.stopping.set()
        for member in members:
            member.join(timeout=30)
        told = [pk for member in members for pk in member.job_ids]
        all_jobs = list(Job.objects.values_list("pk", flat=True))
        # A job whose queue answer the worker crash lost is settled by the wallet sync and
        # then runs to the end like the others.
        count = drive_to_the_end(all_jobs, timeout=90)
        figures = check_invariants(wallet, venice, all_jobs, allow_review=False)
    finally:
        for member in members:
            member.stopping.set()
        worker.stop()
        web.kill()

    problems = [p for m in members for p in m.problems]
    assert not problems, f"{problems}\n{web.log.read_text()[-6000:]}"
    assert all(m.job_ids for m in members)
    assert sum(m.server_away for m in members) > 0, "the restarts never met a member's request"
    assert set(told) <= set(all_jobs), "a job a member was shown does not exist"
    # A submission cut off by the web crash may have saved its job unseen: a member who
    # submits again then has one more job; it must run to the end too, which it did.
    assert len(told) <= len(all_jobs) <= sum(m.attempts for m in members)
    assert count == {Job.State.COMPLETED: len(all_jobs)}
    assert sum(m.sign_ins for m in members) == len(members), "a restart lost the sessions"
    orphans = audio_files(media) - {Path(j.audio.path) for j in Job.objects.all()}
    assert not orphans, f"audio files no job points at: {orphans}"
    record(
        "Web server and worker restarted mid-run",
        "4 members submitting through gunicorn; graceful worker and web restarts, a worker "
        "SIGKILL and a web SIGKILL; every job shown to a member exists, every job completed "
        "with its own intact audio, no stray file, sessions kept, invariants as above",
        events=events,
        jobs_shown=len(told),
        jobs_in_database=len(all_jobs),
        submissions=sum(m.attempts for m in members),
        server_away=sum(m.server_away for m in members),
        sign_ins=sum(m.sign_ins for m in members),
        topups=figures["topups_credited"],
        seconds=round(time.monotonic() - started, 1),
    )
