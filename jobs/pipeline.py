"""Submitting a job (design.md, "The path of one job"): the member's form becomes a priced,
reserved job (`create_job`), and a worker claims it, makes sure the wallet can pay and queues
it at Venice (`submit`). Polling and saving the audio are in `retrieval`, the state changes in
`states`, what a dead worker left in `recovery`.
"""

from __future__ import annotations

import datetime
import functools
import logging
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ops import leases
from venice import Model, QueueOptions, errors, validate_queue
from wallets import budgets, payments, throttle
from wallets.models import Wallet
from wallets.money import format_usd
from wallets.venice import PaceExceeded, client_for

from . import catalogue, enqueue, pricing, signals, states
from .models import Job, JobEvent

log = logging.getLogger(__name__)

State = Job.State
# A submission's longest lease; it is held for leases.TERM at a time, renewed by the heartbeat.
SUBMIT_LEASE = datetime.timedelta(seconds=120)
MAX_SUBMIT_ATTEMPTS = 8
# All of a wallet's in-flight slots were busy (the throttle's own wait ran out): try again soon.
NO_SLOT_WAIT_S = 2.0
# A top-up waiting for a second admin: look again this often (each look signs nothing).
APPROVAL_WAIT_S = 60.0


class JobRejected(Exception):
    """A submission refused before anything was saved or paid, with the form field to blame."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def validated_body(model_id: str, fields: Mapping[str, Any]) -> tuple[Model, dict]:
    try:
        models = catalogue.usable_models()
    except catalogue.CatalogueUnavailable as exc:
        raise JobRejected(str(exc)) from exc
    model = models.get(model_id)
    if model is None:
        raise JobRejected(f"{model_id!r} is not a model Studio can use right now.", "model")
    unknown = sorted(set(fields) - set(QueueOptions.names()))
    if unknown:
        raise JobRejected(f"Venice's queue call has no option {', '.join(unknown)}.", unknown[0])
    options = QueueOptions(**{**fields, "prompt": fields.get("prompt") or ""})
    try:
        body = validate_queue(model.spec, model.id, options)
    except errors.InvalidRequest as exc:
        raise JobRejected(exc.message, getattr(exc, "field", None)) from exc
    return model, body


def create_job(
    *,
    user,
    model_id: str,
    fields: Mapping[str, Any],
    wallet: Wallet | None = None,
    private: bool = False,
    library_prompt: int | None = None,
    library_version: int | None = None,
) -> Job:
    """Validate, price and save a job, reserving its quote; the worker takes it from there.

    `fields` are the prompt and the options (QueueOptions' names); `library_prompt` and
    `library_version` are the shared prompt and version it was made from, if any, told to
    `signals.job_created`'s receivers.
    Raises JobRejected (nothing saved, nothing paid) for anything that can be refused locally.
    """
    (job,) = create_takes(
        user=user,
        model_id=model_id,
        fields=fields,
        takes=1,
        wallet=wallet,
        private=private,
        library_prompt=library_prompt,
        library_version=library_version,
    )
    return job


def create_takes(
    *,
    user,
    model_id: str,
    fields: Mapping[str, Any],
    takes: int,
    wallet: Wallet | None = None,
    private: bool = False,
    library_prompt: int | None = None,
    library_version: int | None = None,
) -> list[Job]:
    """`takes` jobs of the same request, each its own job at the quote, all reserved at once.

    One reservation of `takes` times the quote, in the transaction that creates the jobs: every
    take is reserved and saved, or none is (JobRejected, nothing saved, nothing paid). Each take
    is then enqueued on its own and paced by the wallet's limits like any job. Several takes
    share a `take_group`; a single one has none, as before takes existed.
    """
    if not isinstance(takes, int) or not 1 <= takes <= pricing.MAX_TAKES:
        raise JobRejected(f"Ask for 1 to {pricing.MAX_TAKES} takes.", "takes")
    # Everything that can refuse the request runs before the first write; the quote is free.
    model, body = validated_body(model_id, fields)
    wallet = wallet or Wallet.objects.paying()
    if wallet is None:
        raise JobRejected("No wallet pays for jobs yet: an admin has to add one.")
    try:
        quote = pricing.price(model, body)
    except errors.VeniceError as exc:
        raise JobRejected(f"Venice could not price this job: {exc}") from exc
    month = budgets.month_of(timezone.now())
    group = uuid.uuid4() if takes > 1 else None
    with transaction.atomic():
        try:
            budgets.reserve(user.pk, month, quote * takes)
        except budgets.BudgetExceeded as exc:
            field = "takes" if takes > 1 else None
            raise JobRejected(_over_budget(exc, quote, takes), field) from exc
        jobs = []
        for number in range(1, takes + 1):
            job = Job.objects.create(
                user=user,
                wallet=wallet,
                private=private,
                take_group=group,
                take_number=number if group else None,
                model_id=model.id,
                model_name=model.spec.name or model.id,
                **Job.option_columns(QueueOptions.from_body(body)),
                quoted_usd=quote,
                reserved_usd=quote,
                budget_month=month,
            )
            note = f"Priced at {format_usd(quote)}"
            if group:
                note += f"; take {number} of {takes}, reserved together"
            JobEvent.objects.create(job=job, state=State.PENDING, note=note)
            jobs.append(job)
            transaction.on_commit(functools.partial(enqueue.submit, job.pk))
    for job in jobs:
        signals.job_created.send(
            Job, job=job, library_prompt=library_prompt, library_version=library_version
        )
    return jobs


def _over_budget(exc: budgets.BudgetExceeded, quote: Decimal, takes: int) -> str:
    if takes == 1:
        return str(exc)
    budget = exc.budget
    whose = "your" if budget.user_id else "the team's"
    left = budget.remaining_usd
    fit = int(left // quote) if quote > 0 else takes
    fits = "not even one does" if fit <= 0 else f"{fit} take{'s' if fit > 1 else ''} would fit"
    return (
        f"{takes} takes at {format_usd(quote)} each ({format_usd(quote * takes)}) cost more than "
        f"what is left of {whose} budget for {budget.month:%B %Y} ({format_usd(left)} of "
        f"{format_usd(budget.limit_usd)}): {fits}. Nothing was reserved."
    )


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
        payments.ensure_credit(job.wallet, job.quoted_usd, asked_since=job.created_at)
    except payments.TopUpDenied as exc:
        return states.fail(job, "topup_denied", f"The team wallet has too little credit: {exc}")
    except payments.TopUpNotAllowed as exc:
        return states.fail(
            job,
            "insufficient_credit",
            f"The team wallet does not have enough credit and its top-up policy does not "
            f"allow more today: {exc}",
        )
    except payments.TopUpFailed as exc:
        return states.fail(
            job,
            "topup_failed",
            f"The team wallet could not buy Venice credit (an admin should check its USDC "
            f"balance): {exc}",
        )
    except throttle.NoSlot as exc:
        return _not_sent(job, f"Waiting for a free request slot ({exc}).", NO_SLOT_WAIT_S)
    except PaceExceeded as exc:  # the balance read was never sent: no attempt used
        return _not_sent(job, f"Waiting for wallet credit: {exc}.", exc.retry_after or 5.0)
    except payments.TopUpAwaitingApproval as exc:  # as long as it takes: no attempt used
        return _not_sent(job, f"Waiting for wallet credit: {exc}", APPROVAL_WAIT_S)
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
            queue_id = client.queue(job.model_id, job.queue_options, spec=spec)
    except throttle.NoSlot as exc:  # raised before the request left: nothing was sent
        return _not_sent(job, f"Waiting for a free request slot ({exc}).", NO_SLOT_WAIT_S)
    except (errors.RateLimited, errors.ConcurrencyLimit) as exc:
        return _retry_later(job, f"Venice asked us to slow down: {exc}", _retry_delay(job, exc))
    except errors.InsufficientBalance as exc:
        payments.forget_credit(job.wallet)
        return _retry_later(job, f"Venice reports too little credit: {exc}", _retry_delay(job, exc))
    except (errors.OutcomeUnknown, errors.MalformedResponse) as exc:
        return states.needs_review(job, f"The queue call got no definite answer ({exc}).")
    except errors.UpstreamUnavailable as exc:  # provably not processed (e.g. 503 at capacity)
        return _retry_later(job, f"Venice is unavailable: {exc}", _retry_delay(job, exc))
    except errors.VeniceError as exc:
        return states.fail_from(job, exc)
    except Exception as exc:  # a crash mid-call: Venice may or may not have the job
        log.exception("queue call for job %s ended unexpectedly", job.pk)
        return states.needs_review(job, f"The queue call ended unexpectedly: {type(exc).__name__}")
    return states.queued(job, queue_id)


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


def _retry_delay(job: Job, exc: Exception) -> float:
    retry_after = getattr(exc, "retry_after", None)
    backoff = min(2**job.attempts, 300)
    return max(float(retry_after or 0), backoff)


def _retry_later(job: Job, why: str, delay_s: float) -> Job:
    if job.attempts >= MAX_SUBMIT_ATTEMPTS:
        return states.fail(job, "unavailable", f"Gave up after {job.attempts} attempts. {why}")
    return _back_to_pending(job, f"{why} Retrying in {delay_s:.0f} s.", delay_s)


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
    return _back_to_pending(
        job, f"{why} Trying again in {wait_s:.1f} s.", wait_s, attempts=F("attempts") - 1
    )


def _back_to_pending(job: Job, note: str, wait_s: float, **fields) -> Job:
    """SUBMITTING → PENDING, let go by this worker and taken again after `wait_s`."""
    states.move(
        job,
        [State.SUBMITTING],
        State.PENDING,
        note=note,
        lease_until=None,
        queue_sent_at=None,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait_s),
        **fields,
    )
    return job
