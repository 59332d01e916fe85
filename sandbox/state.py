"""Accounts, their ledgers, and audio jobs: what Venice remembers between requests."""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sandbox.errors import ApiError, bad_request
from sandbox.money import json_number, usd
from sandbox.validation import AudioRequest


class EntryType(StrEnum):
    TOP_UP = "TOP_UP"
    CHARGE = "CHARGE"
    REFUND = "REFUND"


class Failure(StrEnum):
    """How a generation fails when the provider rejects it after it was charged."""

    CONTENT_POLICY = "content_policy"
    INFERENCE = "inference"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a wallet signed in with SIWX, or an API-key account."""

    wallet: str | None = None
    api_key: str | None = None

    @property
    def owner(self) -> str:
        return self.wallet.lower() if self.wallet else f"apikey:{self.api_key}"


@dataclass(frozen=True)
class LedgerRow:
    id: str
    type: EntryType
    # Kept positive here; served negative for a CHARGE (reference §8).
    amount: Decimal
    balance_after: Decimal
    created_at: datetime
    request_id: str | None
    model_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": json_number(-self.amount if self.type is EntryType.CHARGE else self.amount),
            "balanceAfter": json_number(self.balance_after),
            "type": str(self.type),
            "createdAt": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestId": self.request_id,
            "modelId": self.model_id,
        }


@dataclass
class Account:
    balance: Decimal = Decimal(0)
    ledger: list[LedgerRow] = field(default_factory=list)
    # Held for queued jobs that are charged on completion (Seed Audio's 120 s cap): not a
    # ledger row, but not available to the next job either.
    reserved: Decimal = Decimal(0)

    def post(
        self, kind: EntryType, amount: Decimal, request_id: str | None, model_id: str | None
    ) -> LedgerRow:
        if kind is EntryType.CHARGE:
            # A charge never takes the balance below zero: it collects what is left.
            amount = min(amount, self.balance)
            self.balance -= amount
        else:
            self.balance += amount
        row = LedgerRow(
            str(uuid.uuid4()), kind, amount, self.balance, datetime.now(UTC), request_id, model_id
        )
        self.ledger.append(row)
        return row

    def charged_for(self, request_id: str) -> Decimal:
        return sum(
            (
                r.amount
                for r in self.ledger
                if r.type is EntryType.CHARGE and r.request_id == request_id
            ),
            Decimal(0),
        )


@dataclass
class Job:
    """One queued generation. Times are ``time.monotonic()`` seconds; durations are real."""

    queue_id: str
    owner: str
    request: AudioRequest
    audio_seconds: float
    queued_at: float
    run_s: float
    p80_s: float
    media_retention_s: float
    failure: Failure | None
    media_deleted: bool = False
    # Seed Audio: what it holds while running, and what it is charged when it ends.
    reserved: Decimal = Decimal(0)
    completion_charge: Decimal | None = None

    @property
    def model_id(self) -> str:
        return self.request.model_id

    @property
    def finished_at(self) -> float:
        return self.queued_at + self.run_s

    def finished(self, now: float) -> bool:
        return now >= self.finished_at

    def media_available(self, now: float) -> bool:
        return not self.media_deleted and now < self.finished_at + self.media_retention_s


class SandboxState:
    """All accounts and jobs, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._jobs: dict[str, Job] = {}
        # Jobs with something to settle when they end: a refund, or a charge on completion.
        self._ending: list[Job] = []

    def _account(self, owner: str) -> Account:
        return self._accounts.setdefault(owner, Account())

    def _refund_failed_jobs(self, now: float) -> None:
        """Settle jobs that have ended, whether or not anyone is polling.

        A failure is refunded the sum of its charges; a job charged on completion releases
        its reservation and, if it succeeded, is charged for its real length.
        """
        due = [job for job in self._ending if job.finished(now)]
        for job in due:
            account = self._account(job.owner)
            account.reserved -= job.reserved
            charged = account.charged_for(job.queue_id)
            if job.failure is not None and charged:
                account.post(EntryType.REFUND, charged, job.queue_id, job.model_id)
            elif job.failure is None and job.completion_charge is not None:
                account.post(EntryType.CHARGE, job.completion_charge, job.queue_id, job.model_id)
            self._ending.remove(job)

    def create_api_key(self, amount: Decimal) -> str:
        key = "vsk_" + secrets.token_hex(16)
        with self._lock:
            account = self._account(Caller(api_key=key).owner)
            if amount:
                account.post(EntryType.TOP_UP, usd(amount), None, None)
        return key

    def knows_api_key(self, key: str) -> bool:
        with self._lock:
            return Caller(api_key=key).owner in self._accounts

    def balance(self, owner: str, now: float) -> Decimal:
        with self._lock:
            self._refund_failed_jobs(now)
            return self._account(owner).balance

    def post(
        self,
        owner: str,
        kind: EntryType,
        amount: Decimal,
        request_id: str | None,
        model_id: str | None,
        now: float,
    ) -> LedgerRow:
        with self._lock:
            self._refund_failed_jobs(now)
            return self._account(owner).post(kind, usd(amount), request_id, model_id)

    def ledger_page(
        self, owner: str, limit: int, offset: int, now: float
    ) -> tuple[list[LedgerRow], bool, Decimal]:
        """Rows newest first, whether more follow, and the current balance."""
        with self._lock:
            self._refund_failed_jobs(now)
            account = self._account(owner)
            newest_first = account.ledger[::-1]
            page = newest_first[offset : offset + limit]
            return page, offset + limit < len(newest_first), account.balance

    def accept(self, job: Job, installments: list[Decimal], now: float) -> None:
        """Charge for ``job`` (or reserve for it) and keep it, or refuse with 402."""
        with self._lock:
            self._refund_failed_jobs(now)
            account = self._account(job.owner)
            needed = sum(installments, Decimal(0)) + job.reserved
            if account.balance - account.reserved < needed:
                raise ApiError(402, "Insufficient USD or Diem balance to complete this request")
            for amount in installments:
                account.post(EntryType.CHARGE, amount, job.queue_id, job.model_id)
            account.reserved += job.reserved
            self._jobs[job.queue_id] = job
            if job.failure is not None or job.completion_charge is not None:
                self._ending.append(job)

    def job(self, owner: str, model_id: str, queue_id: str, now: float) -> Job:
        with self._lock:
            self._refund_failed_jobs(now)
            job = self._jobs.get(queue_id)
            if job is None or job.owner != owner or job.model_id != model_id:
                raise bad_request("Request ID is invalid.", field="queue_id")
            return job

    def delete_media(self, job: Job) -> None:
        with self._lock:
            job.media_deleted = True
