"""Venice's per-wallet limits, shared by every process: requests in flight, and a rate."""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import InFlightSlot, Wallet

# Longer than any single call may take (timeouts are 30 s); a dead holder's slot frees after it.
SLOT_LEASE = datetime.timedelta(seconds=180)


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
        taken = InFlightSlot.objects.filter(Q(until__isnull=True) | Q(until__lt=now), pk=pk).update(
            holder=token, until=now + SLOT_LEASE
        )
        if taken:
            return token
    return None


def release(token: str) -> None:
    InFlightSlot.objects.filter(holder=token).update(holder="", until=None)


def acquire(wallet: Wallet, wait_s: float = 30.0) -> str:
    deadline = time.monotonic() + wait_s
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
        return response


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


class RateLimiter:
    """A sliding window of call times, per wallet, for one process (the poll loop).

    The window is Venice's minute; benchmarks that run the sandbox faster shrink it to match.
    """

    def __init__(self, per_window: int, window_s: float = 60.0):
        self.per_window = per_window
        self.window_s = window_s
        self._calls: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, wallet_id: int) -> float:
        """0 if a call may go now (and counts it), else seconds until one may."""
        with self._lock:
            calls = self._calls.setdefault(wallet_id, deque())
            now = time.monotonic()
            while calls and now - calls[0] >= self.window_s:
                calls.popleft()
            if len(calls) < self.per_window:
                calls.append(now)
                return 0.0
            return self.window_s - (now - calls[0])
