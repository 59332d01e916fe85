"""Rate limits over rolling 60-second windows, in-flight caps, and call statistics."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

WINDOW_S = 60.0


@dataclass(frozen=True)
class Allowance:
    """The answer of one rate-limit check, with what the ``x-ratelimit-*`` headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        # Venice reports the reset as a moment, in Unix milliseconds (reference §8).
        reset_at_ms = round((time.time() + self.reset_s) * 1000)
        headers = {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": str(reset_at_ms),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_s)
        return headers


class RateLimiter:
    """Sliding-window request counts per (route, caller); refused calls do not count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def check(self, route: str, key: str, limit: int) -> Allowance:
        now = time.monotonic()
        with self._lock:
            window = self._windows[(route, key)]
            while window and window[0] <= now - WINDOW_S:
                window.popleft()
            allowed = len(window) < limit
            if allowed:
                window.append(now)
            reset = math.ceil(window[0] + WINDOW_S - now) if window else 0
            return Allowance(allowed, limit, max(0, limit - len(window)), max(reset, 1))

    def forget(self) -> None:
        with self._lock:
            self._windows.clear()


class InFlightGate:
    """At most ``limit`` requests per wallet being served at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving: dict[str, int] = defaultdict(int)

    def enter(self, key: str, limit: int) -> bool:
        with self._lock:
            if self._serving[key] >= limit:
                return False
            self._serving[key] += 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._serving[key] -= 1
            if not self._serving[key]:
                del self._serving[key]


class _Tally:
    """Counters for one scope: everybody, or one wallet."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.recent: dict[str, deque[float]] = defaultdict(deque)
        self.peak_per_minute: dict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.peak_in_flight = 0

    def start(self, route: str, now: float) -> None:
        self.calls[route] += 1
        recent = self.recent[route]
        recent.append(now)
        while recent[0] <= now - WINDOW_S:
            recent.popleft()
        self.peak_per_minute[route] = max(self.peak_per_minute[route], len(recent))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "statuses": {route: dict(codes) for route, codes in self.statuses.items()},
            "peak_per_minute": dict(self.peak_per_minute),
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
        }


@dataclass
class CallRecord:
    """One call in progress, and the wallet it turned out to come from."""

    route: str
    wallet: str | None = None


class Stats:
    """What the sandbox saw: calls, answers, peaks per rolling minute and in flight.

    Every call to a Venice route counts, whatever it was answered (refusals included), so
    benchmarks can check a client's own pacing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._everyone = _Tally()
        self._wallets: dict[str, _Tally] = defaultdict(_Tally)

    def begin(self, route: str) -> CallRecord:
        with self._lock:
            self._everyone.start(route, time.monotonic())
        return CallRecord(route)

    def attribute(self, call: CallRecord, wallet: str) -> None:
        """Count ``call`` for ``wallet`` as well, now that it has proved who it is."""
        call.wallet = wallet.lower()
        with self._lock:
            self._wallets[call.wallet].start(call.route, time.monotonic())

    def answered(self, call: CallRecord, status: int) -> None:
        with self._lock:
            for tally in self._tallies(call):
                tally.statuses[call.route][str(status)] += 1

    def finish(self, call: CallRecord) -> None:
        """The answer to ``call`` has been sent, or abandoned."""
        with self._lock:
            for tally in self._tallies(call):
                tally.in_flight -= 1

    def _tallies(self, call: CallRecord) -> list[_Tally]:
        if call.wallet is None:
            return [self._everyone]
        return [self._everyone, self._wallets[call.wallet]]

    def snapshot(self, wallet: str | None = None) -> dict[str, Any]:
        with self._lock:
            if wallet is None:
                return {"wallet": None, **self._everyone.as_json()}
            tally = self._wallets.get(wallet.lower(), _Tally())
            return {"wallet": wallet, **tally.as_json()}


class ErrorBudget:
    """Venice's error budget: too many failed requests lock a bucket out for a while.

    A bucket (an IP for x402 wallets, a model) opens a window at its first failure (any
    4xx but 429); once more than ``budget`` failures land in that window, every request in
    the bucket is refused with 429 until the window ends (reference §8).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # bucket -> (window start, failures so far, window length)
        self._windows: dict[str, tuple[float, int, float]] = {}

    def _current(self, bucket: str, now: float) -> tuple[float, int, float] | None:
        window = self._windows.get(bucket)
        if window is not None and now >= window[0] + window[2]:
            del self._windows[bucket]
            return None
        return window

    def failed(self, buckets: list[str], window_s: float) -> None:
        now = time.monotonic()
        with self._lock:
            for bucket in buckets:
                start, failures, length = self._current(bucket, now) or (now, 0, window_s)
                self._windows[bucket] = (start, failures + 1, length)

    def exhausted(self, buckets: list[str], budget: int) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(
                (window := self._current(bucket, now)) is not None and window[1] > budget
                for bucket in buckets
            )

    def forget(self) -> None:
        with self._lock:
            self._windows.clear()
