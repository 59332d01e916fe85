"""Leases that end soon after their holder dies: short terms, renewed by a heartbeat.

A worker holds several kinds of lease, each a timestamp column taken with a conditional UPDATE:
a wallet's in-flight slots (wallets.throttle), its top-up lease (wallets.payments), a polled
job's claim (jobs.poller), a submitting job's lease (jobs.pipeline), and the named leases of
one-at-a-time work (the poll loop, the reconciliation) on WorkerLease rows (take_lease).
Each used to run for its longest possible use (180 s for a slot, 90 s for a top-up), so a
killed worker's leases held other work back for minutes after a restart.

Now a lease is taken for TERM only and registered here; a heartbeat thread in the holder's
process pushes it forward every BEAT_S while the holder still has it, up to the lease's old
ceiling. A process that dies stops beating, and its leases run out within TERM. The renewal is
conditional on the value the process last wrote, so it never revives a lease that someone else
has taken or released in the meantime.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from dataclasses import dataclass, field

from django.db import DatabaseError, connection
from django.db.models import Model, Q
from django.utils import timezone

from .models import WorkerLease

log = logging.getLogger(__name__)

TERM = datetime.timedelta(seconds=12)
BEAT_S = 3.0


@dataclass(eq=False)
class Lease:
    """One row's lease column that this process holds: `field` on the row `lookup` finds."""

    model: type[Model]
    lookup: dict
    field: str
    until: datetime.datetime
    ceiling: datetime.datetime
    lock: threading.Lock = field(default_factory=threading.Lock)
    ended: bool = False

    def renew(self, now: datetime.datetime) -> None:
        with self.lock:
            if self.ended or self.until - now > TERM - datetime.timedelta(seconds=BEAT_S):
                return  # fresh enough: most leases end before their first beat
            if now >= self.ceiling:
                self.ended = True  # its old longest term: the holder is stuck, let it go
                return
            new = min(now + TERM, self.ceiling)
            rows = self.model.objects.filter(**self.lookup, **{self.field: self.until})
            if rows.update(**{self.field: new}):
                self.until = new
            else:
                self.ended = True  # released or taken over meanwhile

    def end(self, **also) -> int:
        """Stop renewing and clear the lease (with `also`), unless someone else holds it now."""
        with self.lock:
            self.ended = True
            rows = self.model.objects.filter(**self.lookup, **{self.field: self.until})
            return rows.update(**{self.field: None, **also})

    def forget(self) -> None:
        """Stop renewing without touching the row (its owner has moved it on)."""
        with self.lock:
            self.ended = True


_held: set[Lease] = set()
_lock = threading.Lock()
_beating_in: int | None = None  # the pid whose heartbeat thread runs (a fork has none)


def term_from(now: datetime.datetime) -> datetime.datetime:
    return now + TERM


def hold(
    model: type[Model], lookup: dict, field_name: str, until: datetime.datetime, longest
) -> Lease:
    """Register a lease just taken (its column set to `until`, at most TERM ahead) so that the
    heartbeat keeps it, for at most `longest` in all."""
    lease = Lease(model, dict(lookup), field_name, until, timezone.now() + longest)
    with _lock:
        _held.add(lease)
        _start_heartbeat()
    return lease


def _start_heartbeat() -> None:
    global _beating_in
    if _beating_in == os.getpid():
        return
    _beating_in = os.getpid()
    threading.Thread(target=_beat_forever, name="lease-heartbeat", daemon=True).start()


def _beat_forever() -> None:
    stop = threading.Event()
    while not stop.wait(BEAT_S):
        try:
            beat()
        finally:
            connection.close()  # this thread's own connection; the next beat opens another


def beat() -> None:
    """Renew every lease this process still holds; forget the ended ones."""
    with _lock:
        leases = [lease for lease in _held if not lease.ended]
        _held.intersection_update(leases)
    if not leases:
        return
    now = timezone.now()
    try:
        for lease in leases:
            lease.renew(now)
    except DatabaseError as exc:  # the next beat tries again, well within TERM
        log.warning("renewing leases failed: %s", exc)


# Long named leases (e.g. the reconciliation's 30 minutes) this process holds, renewed by its
# heartbeat.
_renewed: dict[tuple[str, str], Lease] = {}


def take_lease(name: str, holder: str, duration: datetime.timedelta) -> bool:
    """A named lease for `duration`. One longer than TERM is taken for the TERM and renewed by
    this process's heartbeat, so that it ends soon after a killed holder."""
    WorkerLease.objects.bulk_create([WorkerLease(name=name)], ignore_conflicts=True)
    now = timezone.now()
    until = now + min(duration, TERM)
    taken = WorkerLease.objects.filter(
        Q(until__isnull=True) | Q(until__lt=now) | Q(holder=holder), name=name
    ).update(holder=holder, until=until)
    if taken and duration > TERM:
        previous = _renewed.pop((name, holder), None)
        if previous is not None:
            previous.forget()
        _renewed[(name, holder)] = hold(
            WorkerLease, {"name": name, "holder": holder}, "until", until, duration
        )
    return bool(taken)


def drop_lease(name: str, holder: str) -> None:
    lease = _renewed.pop((name, holder), None)
    if lease is not None:
        lease.forget()
    WorkerLease.objects.filter(name=name, holder=holder).update(until=None, holder="")


def lease_free(name: str) -> bool:
    return not WorkerLease.objects.filter(name=name, until__gte=timezone.now()).exists()
