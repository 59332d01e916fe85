"""Venice's per-wallet limits, shared by every process: requests in flight, and call rates."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterator

import httpx
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from ops import leases, record

from .models import InFlightSlot, RateSlot, Wallet

# Longer than any single call may take (timeouts are 30 s). A slot is taken for leases.TERM and
# renewed by its process's heartbeat up to this, so a dead holder's slot frees within the TERM.
SLOT_LEASE = datetime.timedelta(seconds=180)
# How long a call waits for a free slot before giving up (NoSlot: nothing was sent).
ACQUIRE_WAIT_S = 30.0
# The leases this process holds, by slot token.
_leases: dict[str, leases.Lease] = {}


class NoSlot(Exception):
    pass


def _ensure_slots(wallet_id: int) -> None:
    wanted = settings.IN_FLIGHT_PER_WALLET
    if InFlightSlot.objects.filter(wallet_id=wallet_id).count() < wanted:
        InFlightSlot.objects.bulk_create(
            [InFlightSlot(wallet_id=wallet_id, slot=n) for n in range(wanted)],
            ignore_conflicts=True,
        )


def try_acquire(wallet: Wallet) -> str | None:
    """Take a free slot for this wallet and return its token, or None if all are busy."""
    _ensure_slots(wallet.pk)
    now = timezone.now()
    token = uuid.uuid4().hex
    free = InFlightSlot.objects.filter(
        Q(until__isnull=True) | Q(until__lt=now),
        wallet_id=wallet.pk,
        slot__lt=settings.IN_FLIGHT_PER_WALLET,
    ).values_list("pk", flat=True)
    for pk in free:
        until = leases.term_from(now)
        taken = InFlightSlot.objects.filter(Q(until__isnull=True) | Q(until__lt=now), pk=pk).update(
            holder=token, until=until
        )
        if taken:
            _leases[token] = leases.hold(InFlightSlot, {"pk": pk}, "until", until, SLOT_LEASE)
            return token
    return None


def release(token: str) -> None:
    lease = _leases.pop(token, None)
    if lease is not None:
        lease.forget()
    InFlightSlot.objects.filter(holder=token).update(holder="", until=None)


def acquire(wallet: Wallet, wait_s: float | None = None) -> str:
    deadline = time.monotonic() + (ACQUIRE_WAIT_S if wait_s is None else wait_s)
    delay = 0.02
    while (token := try_acquire(wallet)) is None:
        if time.monotonic() > deadline:
            raise NoSlot(
                f"all {settings.IN_FLIGHT_PER_WALLET} request slots of {wallet.name} are busy"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    return token


class InFlightTransport(httpx.HTTPTransport):
    """Holds one of the wallet's slots from sending a request until its body is read or closed.

    Built into every client made for a wallet, so streamed audio counts as in flight for as long
    as Venice counts it, and no caller can forget the limit.
    """

    def __init__(self, wallet: Wallet, **kwargs):
        super().__init__(**kwargs)
        self.wallet = wallet

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        token = acquire(self.wallet)
        try:
            response = super().handle_request(request)
        except BaseException:
            release(token)
            raise
        response.stream = _ReleasingStream(response.stream, token)
        _count(self.wallet.pk, request.url.path, response.status_code)
        return response


# The calls /metrics reports, counted per HTTP request (retries included) in the database.
COUNTED = {"/audio/queue": "queue", "/audio/retrieve": "retrieve"}


def _count(wallet_id: int, path: str, status: int) -> None:
    endpoint = next((name for end, name in COUNTED.items() if path.endswith(end)), None)
    if endpoint:
        record.bump(f"{endpoint}_calls", wallet_id)
        if status == 429:
            record.bump(f"{endpoint}_429", wallet_id)


class _ReleasingStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, token: str):
        self._inner = inner
        self._token: str | None = token

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if self._token:
                release(self._token)
                self._token = None


def take_rate_slot(wallet_id: int, endpoint: str, per_minute: int) -> float:
    """0 if a call to `endpoint` may go now (and counts it), else seconds until one may.

    The window is Venice's minute; benchmarks that run the sandbox faster shrink it to match.
    """
    window = datetime.timedelta(seconds=settings.VENICE_RATE_WINDOW_S)
    slots = RateSlot.objects.filter(wallet_id=wallet_id, endpoint=endpoint, slot__lt=per_minute)
    for _ in range(4):
        now = timezone.now()
        free = list(
            slots.filter(Q(used_at__isnull=True) | Q(used_at__lte=now - window)).values_list(
                "pk", "used_at"
            )[:5]
        )
        for pk, used_at in free:
            if RateSlot.objects.filter(pk=pk, used_at=used_at).update(used_at=now):
                return 0.0
        if free:
            continue  # others took those first; look again
        if slots.count() < per_minute:  # the wallet's first call here, or a raised limit
            RateSlot.objects.bulk_create(
                [
                    RateSlot(wallet_id=wallet_id, endpoint=endpoint, slot=n)
                    for n in range(per_minute)
                ],
                ignore_conflicts=True,
            )
            continue
        oldest = (
            slots.order_by(F("used_at").asc(nulls_first=True))
            .values_list("used_at", flat=True)
            .first()
        )
        if oldest is not None and oldest > now - window:
            return max(0.01, (oldest + window - now).total_seconds())
        # A slot came free, or another process made the rows, since we looked: look again.
    return 0.05  # others keep taking the free slots first


def fill_window(wallet_id: int, endpoint: str) -> None:
    """Venice answered 429 although our count allowed the call (another client, a clock
    apart): count the whole window as used, so no process asks again before it ends."""
    RateSlot.objects.filter(wallet_id=wallet_id, endpoint=endpoint).update(used_at=timezone.now())
