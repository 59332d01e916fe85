"""The path of one job (design.md), as plain functions that the worker tasks and tests call.

Every state change is a conditional UPDATE on the state the caller expects, so two workers that
race for the same job cannot both act on it: the loser's UPDATE matches no row.
"""

from __future__ import annotations

import datetime
import logging
import mimetypes
import posixpath
import random
import tempfile
from decimal import Decimal

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from ops import leases
from venice import AudioResult, Model, Processing, VeniceClient, errors, validate_queue
from wallets import budgets, payments, throttle
from wallets.models import LedgerEntry, Wallet
from wallets.money import format_usd
from wallets.venice import PaceExceeded, client_for, public_client

from . import accounting, audio_file, catalogue, schedule
from .audio_file import AudioFacts
from .models import Job, JobEvent

log = logging.getLogger(__name__)

State = Job.State
# A submission's longest lease; it is held for leases.TERM at a time, renewed by the heartbeat.
SUBMIT_LEASE = datetime.timedelta(seconds=120)
MAX_SUBMIT_ATTEMPTS = 8
# All of a wallet's in-flight slots were busy (the throttle's own wait ran out): try again soon.
NO_SLOT_WAIT_S = 2.0
# Polls through an outage back off up to this.
OUTAGE_BACKOFF_CAP_S = 60.0
# How long Venice keeps a finished job's media (settings.VENICE_MEDIA_RETENTION_S may say).
DEFAULT_MEDIA_RETENTION_S = 24 * 3600.0
# How long after the queue call a missing CHARGE proves that Venice never accepted the job.
UNKNOWN_OUTCOME_GRACE = datetime.timedelta(minutes=2)


# The queue body's options besides `model` and `prompt` (the seed's, plus `loop`).
QUEUE_OPTIONS = {
    "lyrics_prompt",
    "lyrics_optimizer",
    "force_instrumental",
    "duration_seconds",
    "voice",
    "language_code",
    "speed",
    "loop",
}


class JobRejected(Exception):
    """A submission refused before anything was saved or paid, with the form field to blame."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- submitting ---------------------------------------------------------------------------------


def default_wallet() -> Wallet | None:
    return Wallet.objects.filter(is_default=True).first()


def price(model: Model, body: dict) -> Decimal:
    """Venice's quote for this body (free, no credentials)."""
    by_characters = model.spec.pricing and model.spec.pricing.kind == "per_thousand_characters"
    character_count = len(body["prompt"]) if by_characters else None
    return public_client().quote(
        model.id, duration_seconds=body.get("duration_seconds"), character_count=character_count
    )


def validated_body(model_id: str, fields: dict) -> tuple[Model, dict]:
    try:
        models = catalogue.usable_models()
    except catalogue.CatalogueUnavailable as exc:
        raise JobRejected(str(exc)) from exc
    model = models.get(model_id)
    if model is None:
        raise JobRejected(f"{model_id!r} is not a model Studio can use right now.", "model")
    options = {key: value for key, value in fields.items() if key != "prompt"}
    unknown = sorted(set(options) - QUEUE_OPTIONS)
    if unknown:
        raise JobRejected(f"Venice's queue call has no option {', '.join(unknown)}.", unknown[0])
    try:
        body = validate_queue(model.spec, model.id, fields.get("prompt") or "", **options)
    except errors.InvalidRequest as exc:
        raise JobRejected(exc.message, getattr(exc, "field", None)) from exc
    return model, body


def create_job(
    *, user, model_id: str, fields: dict, wallet: Wallet | None = None, private: bool = False
) -> Job:
    """Validate, price and save a job, reserving its quote; the worker takes it from there.

    Raises JobRejected (nothing saved, nothing paid) for anything that can be refused locally.
    """
    model, body = validated_body(model_id, fields)
    wallet = wallet or default_wallet()
    if wallet is None:
        raise JobRejected("No wallet pays for jobs yet: an admin has to add one.")
    try:
        quote = price(model, body)
    except errors.VeniceError as exc:
        raise JobRejected(f"Venice could not price this job: {exc}") from exc
    month = budgets.month_of(timezone.now())
    with transaction.atomic():
        try:
            budgets.reserve(user.pk, month, quote)
        except budgets.BudgetExceeded as exc:
            raise JobRejected(str(exc)) from exc
        job = Job.objects.create(
            user=user,
            wallet=wallet,
            private=private,
            model_id=model.id,
            model_name=model.spec.name or model.id,
            prompt=body["prompt"],
            lyrics_prompt=body.get("lyrics_prompt") or "",
            lyrics_optimizer=body.get("lyrics_optimizer"),
            force_instrumental=body.get("force_instrumental"),
            duration_seconds=body.get("duration_seconds"),
            voice=body.get("voice") or "",
            language_code=body.get("language_code") or "",
            speed=body.get("speed"),
            loop=body.get("loop"),
            quoted_usd=quote,
            reserved_usd=quote,
            budget_month=month,
        )
        JobEvent.objects.create(job=job, state=State.PENDING, note=f"Priced at {format_usd(quote)}")
        from . import tasks  # tasks imports this module

        transaction.on_commit(lambda: tasks.enqueue_submit(job.pk))
    return job


def _move(job: Job, from_states, to_state: str, note: str = "", **fields) -> bool:
    """The one way a job changes state: conditional on where it is now, with a timeline entry."""
    moved = Job.objects.filter(pk=job.pk, state__in=list(from_states)).update(
        state=to_state, updated_at=timezone.now(), **fields
    )
    if moved:
        JobEvent.objects.create(job_id=job.pk, state=to_state, note=note[:2000])
        job.refresh_from_db()
    return bool(moved)


def submit(job_id: int) -> Job | None:
    """Claim a PENDING job, make sure the wallet can pay, and queue it at Venice."""
    now = timezone.now()
    until = leases.term_from(now)  # renewed by the heartbeat up to SUBMIT_LEASE
    claimed = (
        Job.objects.filter(pk=job_id, state=State.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(state=State.SUBMITTING, lease_until=until, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None  # another worker has it, or it is not due yet
    lease = leases.hold(Job, {"pk": job_id}, "lease_until", until, SUBMIT_LEASE)
    try:
        return _submit_claimed(Job.objects.select_related("wallet").get(pk=job_id), lease)
    finally:
        lease.forget()


def _submit_claimed(job: Job, lease: leases.Lease) -> Job:
    wait = throttle.take_rate_slot(job.wallet_id, "queue", settings.QUEUE_PER_MINUTE)
    if wait:
        return _wait_for_rate(job, wait)
    JobEvent.objects.create(job=job, state=State.SUBMITTING, note=f"Attempt {job.attempts}")

    try:
        payments.ensure_credit(job.wallet, job.quoted_usd)
    except payments.TopUpNotAllowed as exc:
        return fail(
            job,
            "insufficient_credit",
            f"The team wallet does not have enough credit and its top-up policy does not "
            f"allow more today: {exc}",
        )
    except payments.TopUpFailed as exc:
        return fail(
            job,
            "topup_failed",
            f"The team wallet could not buy Venice credit (an admin should check its USDC "
            f"balance): {exc}",
        )
    except throttle.NoSlot as exc:
        return _not_sent(job, f"Waiting for a free request slot ({exc}).", NO_SLOT_WAIT_S)
    except PaceExceeded as exc:  # the balance read was never sent: no attempt used
        return _not_sent(job, f"Waiting for wallet credit: {exc}.", exc.retry_after or 5.0)
    except (payments.TopUpPending, payments.WalletBusy, errors.VeniceError) as exc:
        return _retry_later(job, f"Waiting for wallet credit: {exc}", _retry_delay(job, exc))

    try:
        model = catalogue.get_model(job.model_id)
    except catalogue.CatalogueUnavailable:
        model = None  # Venice validates the body anyway; the local check is a courtesy here
    # From this write on, Venice may have the job even if we never hear back (NEEDS_REVIEW).
    if not _mark_sending(job, lease):
        log.warning("job %s: its lease ran out before the queue call; not sending it", job.pk)
        return job
    try:
        with client_for(job.wallet) as client:
            spec = model.spec if model else None
            queue_id = client.queue(job.model_id, spec=spec, **job.queue_body)
    except throttle.NoSlot as exc:  # raised before the request left: nothing was sent
        return _not_sent(job, f"Waiting for a free request slot ({exc}).", NO_SLOT_WAIT_S)
    except (errors.RateLimited, errors.ConcurrencyLimit) as exc:
        return _retry_later(job, f"Venice asked us to slow down: {exc}", _retry_delay(job, exc))
    except errors.InsufficientBalance as exc:
        payments.forget_credit(job.wallet)
        return _retry_later(job, f"Venice reports too little credit: {exc}", _retry_delay(job, exc))
    except (errors.OutcomeUnknown, errors.MalformedResponse) as exc:
        return needs_review(job, f"The queue call got no definite answer ({exc}).")
    except errors.UpstreamUnavailable as exc:  # provably not processed (e.g. 503 at capacity)
        return _retry_later(job, f"Venice is unavailable: {exc}", _retry_delay(job, exc))
    except errors.VeniceError as exc:
        return fail_from(job, exc)
    except Exception as exc:  # a crash mid-call: Venice may or may not have the job
        log.exception("queue call for job %s ended unexpectedly", job.pk)
        return needs_review(job, f"The queue call ended unexpectedly: {type(exc).__name__}")
    return queued(job, queue_id)


def _mark_sending(job: Job, lease: leases.Lease) -> bool:
    """Only while this worker still holds the job: had its lease run out (a heartbeat that
    could not reach the database), recovery may have handed the job to another worker."""
    with lease.lock:
        now = timezone.now()
        return bool(
            Job.objects.filter(
                pk=job.pk, state=State.SUBMITTING, lease_until=lease.until, lease_until__gt=now
            ).update(queue_sent_at=now)
        )


def queued(job: Job, queue_id: str) -> Job:
    now = timezone.now()
    _move(
        job,
        [State.SUBMITTING, State.NEEDS_REVIEW],
        State.QUEUED,
        note=f"Venice queue id {queue_id}",
        queue_id=queue_id,
        queued_at=now,
        lease_until=None,
        next_attempt_at=None,
        next_poll_at=now + schedule.first_poll_delay(job),
    )
    payments.note_spent(job.wallet, job.quoted_usd)
    return job


def _retry_delay(job: Job, exc: Exception) -> float:
    retry_after = getattr(exc, "retry_after", None)
    backoff = min(2**job.attempts, 300)
    return max(float(retry_after or 0), backoff)


def _retry_later(job: Job, why: str, delay_s: float) -> Job:
    if job.attempts >= MAX_SUBMIT_ATTEMPTS:
        return fail(job, "unavailable", f"Gave up after {job.attempts} attempts. {why}")
    _move(
        job,
        [State.SUBMITTING],
        State.PENDING,
        note=f"{why} Retrying in {delay_s:.0f} s.",
        lease_until=None,
        queue_sent_at=None,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay_s),
    )
    return job


def _wait_for_rate(job: Job, wait_s: float) -> Job:
    """Venice takes 40 queue calls a minute per wallet, so a team's burst of submissions is
    paced rather than answered with 429s."""
    return _not_sent(
        job,
        f"The wallet's {settings.QUEUE_PER_MINUTE} queue calls a minute are taken.",
        wait_s,
    )


def _not_sent(job: Job, why: str, wait_s: float) -> Job:
    """Back to PENDING without using up an attempt: nothing reached Venice this time."""
    _move(
        job,
        [State.SUBMITTING],
        State.PENDING,
        note=f"{why} Trying again in {wait_s:.1f} s.",
        lease_until=None,
        queue_sent_at=None,
        attempts=F("attempts") - 1,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait_s),
    )
    return job


def needs_review(job: Job, why: str) -> Job:
    _move(
        job,
        [State.SUBMITTING],
        State.NEEDS_REVIEW,
        note=f"{why} It will be matched against Venice's ledger, not sent again.",
        lease_until=None,
    )
    return job


# --- failing and finishing ------------------------------------------------------------------------

_PLAIN_WORDS = {
    errors.ContentPolicy: (
        "content_policy",
        "Venice refused this prompt under its content policy.",
    ),
    errors.InvalidRequest: ("invalid_request", "Venice rejected the request."),
    errors.InsufficientBalance: ("insufficient_credit", "The wallet ran out of credit."),
    errors.AuthFailed: ("auth_failed", "Venice did not accept the wallet's credentials."),
    errors.Forbidden: ("forbidden", "Venice refused this request (region or privacy rules)."),
    errors.NotFound: ("not_found", "Venice no longer has this job or its audio."),
    errors.UpstreamUnavailable: ("unavailable", "Venice could not run this job."),
}


def fail_from(job: Job, exc: errors.VeniceError) -> Job:
    code, words = next(
        (value for kind, value in _PLAIN_WORDS.items() if isinstance(exc, kind)),
        ("upstream_error", "Venice returned an error."),
    )
    return fail(
        job,
        code,
        f"{words} {exc.message}".strip(),
        status=exc.status,
        upstream_code=exc.code or "",
        suggested_prompt=getattr(exc, "suggested_prompt", None) or "",
    )


def fail(
    job: Job,
    code: str,
    message: str,
    *,
    status: int | None = None,
    upstream_code: str = "",
    suggested_prompt: str = "",
) -> Job:
    """End a job as FAILED and release its reservation (any charge comes from the ledger)."""
    with transaction.atomic():
        moved = _move(
            job,
            [State.PENDING, State.SUBMITTING, State.QUEUED, State.PROCESSING, State.NEEDS_REVIEW],
            State.FAILED,
            note=message,
            error_status=status,
            error_code=(upstream_code or code)[:60],
            error_message=message,
            suggested_prompt=suggested_prompt,
            finished_at=timezone.now(),
            lease_until=None,
            next_poll_at=None,
            next_attempt_at=None,
            reserved_usd=Decimal("0"),
        )
        if moved:  # every state it can leave holds exactly the quote
            budgets.release(job.user_id, job.budget_month, job.quoted_usd)
    return job


def cancel(job: Job, by_user) -> bool:
    """Only a job the worker has not picked up yet can be cancelled: Venice has no cancel call."""
    with transaction.atomic():
        moved = _move(
            job,
            [State.PENDING],
            State.CANCELLED,
            note=f"Cancelled by {by_user}",
            finished_at=timezone.now(),
            reserved_usd=Decimal("0"),
        )
        if moved:
            budgets.release(job.user_id, job.budget_month, job.quoted_usd)
    return moved


# --- polling ----------------------------------------------------------------------------------


def poll(job: Job, client: VeniceClient) -> Job:
    """One retrieve call for a QUEUED/PROCESSING job, and what follows from its answer.

    Venice has been paid for this job, so only Venice's own answer about it ends it (see
    `answers_for_the_job`). No answer at all (a dropped connection, a gateway's 502/503/504, a
    429) is an outage: the job waits it out, polled with a backoff up to a minute, for as long
    as Venice keeps the media (VENICE_MEDIA_RETENTION_S).
    """
    try:
        result = client.retrieve(job.model_id, job.queue_id)
    except throttle.NoSlot:  # nothing was sent: our own in-flight slots are busy
        return _poll_again(job, 1.0, error=False)
    except (errors.RateLimited, errors.ConcurrencyLimit) as exc:
        return _poll_again(job, float(getattr(exc, "retry_after", None) or 2.0), error=False)
    except errors.InsufficientBalance:
        # Venice serves only wallets above its floor, even for retrieving paid results.
        from . import tasks  # tasks imports this module

        tasks.enqueue_credit_check(job.wallet_id)
        # Backing off: a 402 that a top-up does not fix (DIEM, a refused payment) answers the
        # same every time, and each one counts against Venice's error budget.
        return _poll_again(job, _error_backoff(job), error=True)
    except errors.VeniceError as exc:
        if answers_for_the_job(exc):
            return fail_from(job, exc)
        return _wait_out_outage(job, exc)
    if isinstance(result, Processing):
        return _progress(job, result)
    with result:
        return _finish(job, result, client)


def answers_for_the_job(exc: errors.VeniceError) -> bool:
    """Whether a retrieve error is Venice's answer about this job (reference section 8: 400
    provider validation, 422 content policy, 404 media expired or deleted, 500 inference
    failure with its error body), rather than about Venice or the way to it."""
    if isinstance(exc, errors.MalformedResponse) or exc.status is None:
        return False  # a dropped connection or a cut-off answer
    if exc.status == 500:
        return isinstance(exc.body, dict) and bool(exc.body.get("error"))
    return exc.status in (400, 404, 422)


def _wait_out_outage(job: Job, exc: errors.VeniceError) -> Job:
    now = timezone.now()
    since = job.venice_unreachable_since or now
    retention = datetime.timedelta(
        seconds=getattr(settings, "VENICE_MEDIA_RETENTION_S", DEFAULT_MEDIA_RETENTION_S)
    )
    if now - since > retention:
        return fail(
            job,
            "venice_unreachable",
            f"Venice did not answer for longer than it keeps a job's audio "
            f"({retention.total_seconds() / 3600:.0f} h); the last error: {exc}",
            status=exc.status,
        )
    if job.venice_unreachable_since is None:
        Job.objects.filter(pk=job.pk, venice_unreachable_since__isnull=True).update(
            venice_unreachable_since=now
        )
        JobEvent.objects.create(
            job_id=job.pk, state=job.state, note=f"Venice is unreachable, still waiting ({exc})."
        )
        log.warning("job %s: Venice unreachable (%s); polling on", job.pk, exc)
    return _poll_again(job, _error_backoff(job), error=True)


def _error_backoff(job: Job) -> float:
    """Doubling from a tenth of the job's own expected duration (seconds for a short job), up to
    a minute with a little jitter, so that jobs waiting out one outage do not poll in step."""
    expected_ms = job.average_execution_time_ms or schedule.detect_s() * 1000
    base = expected_ms / 1000 * 0.1
    delay = min(OUTAGE_BACKOFF_CAP_S, max(0.25, base * 2 ** min(job.poll_errors, 20)))
    return delay * random.uniform(0.8, 1.0)


def _poll_again(job: Job, delay_s: float, *, error: bool) -> Job:
    fields = {} if error else {"venice_unreachable_since": None}
    Job.objects.filter(pk=job.pk).update(
        next_poll_at=timezone.now() + datetime.timedelta(seconds=delay_s),
        polls=F("polls") + 1,
        poll_errors=F("poll_errors") + 1 if error else 0,
        **fields,
    )
    return job


def _progress(job: Job, status: Processing) -> Job:
    now = timezone.now()
    fields = {
        "execution_duration_ms": int(status.execution_duration_ms),
        "average_execution_time_ms": int(status.average_execution_time_ms),
        "progress_at": now,
        "polls": F("polls") + 1,
        "poll_errors": 0,
        "venice_unreachable_since": None,
        "next_poll_at": now
        + datetime.timedelta(
            seconds=schedule.next_poll_delay(
                job.model_id, status.execution_duration_ms, status.average_execution_time_ms
            )
        ),
    }
    if job.state == State.QUEUED:
        _move(job, [State.QUEUED], State.PROCESSING, note="Venice is generating", **fields)
    else:
        Job.objects.filter(pk=job.pk, state=State.PROCESSING).update(**fields)
    return job


def _extension(result: AudioResult, facts: AudioFacts) -> str:
    if facts.format:  # the file itself says what it is
        return facts.format
    if result.audio_format:
        return result.audio_format.lower().strip(".")[:8]
    guessed = mimetypes.guess_extension(result.content_type or "") or ".bin"
    return guessed.lstrip(".")


def _finish(job: Job, result: AudioResult, client: VeniceClient) -> Job:
    """Stream the audio to storage (never whole in memory), delete it upstream, settle the money."""
    with tempfile.TemporaryFile() as spool:
        size = 0
        for chunk in result.iter_bytes(64 * 1024):
            spool.write(chunk)
            size += len(chunk)
        facts = audio_file.inspect(spool)
        name = job.audio.field.generate_filename(job, f"job-{job.pk}.{_extension(result, facts)}")
        stored = default_storage.save(name, File(spool, name=name))

    try:
        moved = _record_audio(job, stored, size, result, facts)
    except Exception:
        _discard_unless_recorded(job, stored)  # the next poll saves the audio anew
        raise
    if not moved:
        default_storage.delete(stored)  # someone else finished it first
        return job
    if stored != name:
        _remove_leftovers(job, stored)
    delete_upstream_media(job, client)
    return job


def _record_audio(job: Job, stored: str, size: int, result: AudioResult, facts: AudioFacts) -> bool:
    """COMPLETED, pointing at the stored audio, and the money settled: all or nothing. Format
    and length are the file's own (Venice's headers only when the file cannot say)."""
    audio_format = facts.format or (result.audio_format or "").lower().strip(".")[:20]
    seconds = facts.seconds or result.audio_duration_s
    length = f", {seconds:.1f} s" if seconds else ""
    with transaction.atomic():
        moved = _move(
            job,
            [State.QUEUED, State.PROCESSING],
            State.COMPLETED,
            note=f"Saved {size:,} bytes of {audio_format or result.content_type}{length}",
            audio=stored,
            audio_bytes=size,
            audio_content_type=facts.content_type or result.content_type or "",
            audio_format=audio_format,
            audio_duration_s=seconds,
            inference_time_s=result.inference_time_s,
            finished_at=timezone.now(),
            next_poll_at=None,
            polls=F("polls") + 1,
            poll_errors=0,
            venice_unreachable_since=None,
            reserved_usd=Decimal("0"),
            settled_usd=job.quoted_usd,
        )
        if moved:
            budgets.settle(job.user_id, job.budget_month, job.quoted_usd, job.quoted_usd)
    return moved


def _discard_unless_recorded(job: Job, stored: str) -> None:
    """Recording the audio failed; a COMMIT whose answer was lost may still have gone through,
    so the file goes only if the job does not point at it (if the database cannot say, it stays:
    a stray file is better than a job without its audio)."""
    try:
        recorded = Job.objects.filter(pk=job.pk, audio=stored).exists()
    except DatabaseError:
        return
    if not recorded:
        default_storage.delete(stored)


def _remove_leftovers(job: Job, stored: str) -> None:
    """Storage gave the audio another name because this job's own was taken: by the file of an
    attempt whose worker died between saving it and recording it (whole or half written). No
    job points at such a file and none ever will: this job now points at `stored`."""
    folder = posixpath.dirname(stored)
    stem = f"job-{job.pk}"
    for file in default_storage.listdir(folder)[1]:
        path = posixpath.join(folder, file)
        if path != stored and (file.startswith(f"{stem}.") or file.startswith(f"{stem}_")):
            default_storage.delete(path)
            log.info("removed %s, left by an earlier attempt at job %s", path, job.pk)


def delete_upstream_media(job: Job, client: VeniceClient) -> None:
    """Ask Venice to delete its copy; a failure is retried later by the sweep."""
    try:
        client.complete(job.model_id, job.queue_id)
    except errors.NotFound:
        pass  # already gone
    except errors.VeniceError as exc:
        log.warning("complete for job %s failed, will retry: %s", job.pk, exc)
        return
    Job.objects.filter(pk=job.pk).update(media_deleted_at=timezone.now())


# --- recovery ---------------------------------------------------------------------------------


def recover_stale() -> int:
    """Return jobs whose worker died to where they can safely go on from."""
    now = timezone.now()
    count = 0
    stale = Job.objects.filter(state=State.SUBMITTING, lease_until__lt=now)
    for job in stale.filter(queue_sent_at__isnull=True):
        # The worker stopped before sending anything: submitting again is safe.
        count += _move(
            job,
            [State.SUBMITTING],
            State.PENDING,
            lease_until=None,
            note="The worker stopped before sending the job; trying again.",
        )
    for job in stale.filter(queue_sent_at__isnull=False, queue_id__isnull=True):
        count += _move(
            job,
            [State.SUBMITTING],
            State.NEEDS_REVIEW,
            lease_until=None,
            note="The worker stopped after sending the queue call; matching it "
            "against Venice's ledger instead of sending it again.",
        )
    return count


def review_unknown_submissions(wallet: Wallet) -> None:
    """Settle NEEDS_REVIEW jobs from Venice's ledger (synced just before).

    A job's candidates are the unclaimed charges for its model, of its price, at the time of its
    queue call. One queue call makes at most one charge, and every such charge was made by one of
    the jobs whose call was unanswered or is in flight. So a charge only one job could have made
    is that job's, and a job with a single candidate no other job could also own has it; each
    match takes that charge away from the others, which may tell the next one apart. A job with
    no candidate left, well after its call, was never accepted and fails uncharged. What is
    still ambiguous is left for an admin (jobs.resolution, the Job admin's "Resolve" page).
    """
    if not wallet.is_evm or wallet.ledger_synced_at is None:
        return
    unknown = list(
        Job.objects.filter(
            wallet=wallet,
            state=State.NEEDS_REVIEW,
            queue_id__isnull=True,
            queue_sent_at__isnull=False,
        )
    )
    # A job whose queue call is in flight right now may own a fresh charge too: a rival.
    in_flight = Job.objects.filter(
        wallet=wallet,
        state=State.SUBMITTING,
        queue_id__isnull=True,
        queue_sent_at__isnull=False,
    )
    candidates = {job.pk: _candidate_charges(wallet, job) for job in [*unknown, *in_flight]}
    for job, queue_id in match_charges(candidates, [job.pk for job in unknown], unknown):
        queued(job, queue_id)
        LedgerEntry.objects.filter(wallet=wallet, request_id=queue_id).update(job=job)
        accounting.apply_ledger(wallet, {job.pk})
    for job in unknown:
        mine = candidates[job.pk]
        if not mine and wallet.ledger_synced_at > job.queue_sent_at + UNKNOWN_OUTCOME_GRACE:
            fail(
                job,
                "not_accepted",
                "Venice never accepted this job (no charge in its ledger); nothing was spent.",
            )


def match_charges(candidates: dict[int, set[str]], matchable: list[int], jobs: list[Job]):
    """Yield (job, charge) for every match the candidates prove (see review_unknown_submissions).

    `candidates` maps every job that may own a charge to its candidates and is narrowed in place;
    only `matchable` jobs are matched (a job still in flight is a rival, never matched here)."""
    by_pk = {job.pk: job for job in jobs}
    open_jobs = set(matchable)
    progress = True
    while progress:
        progress = False
        owners: dict[str, set[int]] = {}
        for pk, charges in candidates.items():
            for charge in charges:
                owners.setdefault(charge, set()).add(pk)
        for pk in sorted(open_jobs):
            mine = candidates[pk]
            exclusive = {charge for charge in mine if owners[charge] == {pk}}
            if len(exclusive) != 1:
                continue  # nothing proves it, or two charges only it could own: ambiguous
            (charge,) = exclusive
            open_jobs.discard(pk)
            candidates[pk] = {charge}
            for other in candidates:
                if other != pk:
                    candidates[other].discard(charge)
            yield by_pk[pk], charge
            progress = True
            break  # the owners changed: look again


def _candidate_charges(wallet: Wallet, job: Job) -> set[str]:
    claimed = Job.objects.filter(queue_id__isnull=False).values("queue_id")
    window = (
        job.queue_sent_at - datetime.timedelta(seconds=5),
        job.queue_sent_at + datetime.timedelta(minutes=5),
    )
    charges = (
        LedgerEntry.objects.filter(
            wallet=wallet,
            type=LedgerEntry.Type.CHARGE,
            job__isnull=True,
            model_id=job.model_id,
            created_at__range=window,
        )
        .exclude(request_id__in=claimed)
        .values("request_id")
        .annotate(total=Sum("amount_usd"))
    )
    price = job.quoted_usd.quantize(Decimal("0.000001"))
    return {
        row["request_id"]
        for row in charges
        if Decimal(row["total"]).quantize(Decimal("0.000001")) == price
    }
