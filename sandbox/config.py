"""Tunable settings of a running sandbox: time scale, rate limits, settlement timing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerConfig:
    """What ``SandboxServer.configure`` may change; defaults are the real service's.

    Durations named ``*_s`` are simulated seconds: the sandbox multiplies them by
    ``time_scale`` before waiting. Rate-limit windows are always 60 real seconds.
    """

    time_scale: float = 1.0
    queue_per_minute: int = 40
    retrieve_per_minute: int = 120
    balance_per_minute: int = 30
    transactions_per_minute: int = 20
    top_up_per_minute: int = 10
    wallet_max_in_flight: int = 5
    # The error budget: more than this many failed requests (4xx but 429) in one window,
    # per IP for x402 wallets and per model, and the bucket gets 429 until the window ends.
    # The window is real seconds, like the rate-limit windows.
    error_budget: int = 50
    error_budget_window_s: float = 30.0
    # The fastest job's run time as a fraction of its P80 estimate; the slowest follows so
    # that 80% finish within the estimate. Venice does not publish its spread.
    fastest_run: float = 0.5
    # The share of each track's length actually sent. A benchmark running the sandbox faster
    # than life sends shorter tracks too, so that a download keeps its share of a job's time.
    audio_scale: float = 1.0
    # How long a top-up takes to settle on chain (Base confirms in a couple of seconds).
    settle_delay_s: float = 3.0
    # After a SETTLEMENT_TIMEOUT fault, how much later than a normal settlement it lands.
    late_settlement_s: float = 5.0
    # How long finished media can be retrieved before it is gone (404).
    media_retention_s: float = 24 * 3600.0

    def scaled(self, simulated_seconds: float) -> float:
        """Real seconds for a simulated duration."""
        return simulated_seconds * self.time_scale

    def replace(self, **overrides: Any) -> ServerConfig:
        """A copy with ``overrides`` applied; unknown names or bad values raise ValueError."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {}
        for name, value in overrides.items():
            kind = int if fields[name].type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(f"{name} must be a number")
            try:
                number = kind(float(value))
            except ValueError:
                raise ValueError(f"{name} must be a number") from None
            if kind is int and number != float(value):
                raise ValueError(f"{name} must be a whole number")
            if name in ("fastest_run", "audio_scale") and not 0 < number <= 1:
                raise ValueError(f"{name} must be above 0 and at most 1")
            if number < 0 or (name == "time_scale" and number == 0):
                raise ValueError(f"{name} must be positive")
            converted[name] = number
        return dataclasses.replace(self, **converted)
