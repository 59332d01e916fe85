"""Deliberate failures: per-route injected faults, and prompt words that make a job fail."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

from sandbox.state import Failure

# Modes: outcomes injected inside a route rather than instead of it.
SETTLEMENT_TIMEOUT = "settlement_timeout"  # top-up: 504 now, the transfer lands later
CREDITED_CONFLICT = "credited_conflict"  # top-up: a credited payment's resend gets 409
DELETE_FAILED = "delete_failed"  # complete: 200 {"success": false}, the media stays
MODES = {SETTLEMENT_TIMEOUT: "top-up", CREDITED_CONFLICT: "top-up", DELETE_FAILED: "complete"}

ROUTES = ("queue", "retrieve", "complete", "quote", "models", "balance", "transactions", "top-up")
ANY_ROUTE = "*"

# A whole word (any case) in the prompt decides the job's fate. Documented in README.md.
CONTENT_POLICY_WORD = "contraband"  # retrieve answers 422 with suggested_prompt; refunded
INFERENCE_FAILURE_WORD = "kaboom"  # retrieve answers 500; refunded
CAPACITY_WORD = "stampede"  # queue answers 503 (model at capacity); nothing charged
# queue answers 422 content policy without a suggested_prompt; nothing charged
REFUSED_AT_QUEUE_WORD = "embargoed"
TRIGGER_WORDS = {
    CONTENT_POLICY_WORD: Failure.CONTENT_POLICY,
    INFERENCE_FAILURE_WORD: Failure.INFERENCE,
}


def _has_word(prompt: str, word: str) -> bool:
    return re.search(rf"\b{word}\b", prompt, re.IGNORECASE) is not None


def planned_failure(prompt: str) -> Failure | None:
    """How a job with this prompt will end, if it is going to fail."""
    for word, failure in TRIGGER_WORDS.items():
        if _has_word(prompt, word):
            return failure
    return None


def at_capacity(prompt: str) -> bool:
    return _has_word(prompt, CAPACITY_WORD)


def refused_at_queue(prompt: str) -> bool:
    return _has_word(prompt, REFUSED_AT_QUEUE_WORD)


def suggested_prompt(prompt: str) -> str:
    """The prompt a content-policy refusal suggests instead."""
    cleaned = re.sub(rf"\b{CONTENT_POLICY_WORD}\b", "", prompt, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", cleaned).strip()


@dataclass
class FaultRule:
    """What to do to calls on one route.

    A rule fires on a call with probability ``rate``; ``remaining`` (if set) counts the
    firings left before the rule retires. Firing means: wait ``delay_ms`` (simulated, so
    scaled), then answer ``status`` if one is set (with ``code`` as its machine code, where
    the route has one). A rule with a ``mode`` (see ``MODES``) instead fires at the point in
    the route where that mode applies.
    """

    route: str
    status: int | None = None
    rate: float = 1.0
    remaining: int | None = None
    delay_ms: int = 0
    settlement_timeout: bool = False
    code: str | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        # ``settlement_timeout=True`` is the older spelling of that mode.
        if self.settlement_timeout is True and self.mode is None:
            self.mode = SETTLEMENT_TIMEOUT


class FaultTable:
    """The rules in force: at most one per route, plus an optional ``*`` rule for all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, FaultRule] = {}
        self._random = random.Random()

    def set(self, rule: FaultRule) -> None:
        _check_types(rule)
        if rule.route not in (*ROUTES, ANY_ROUTE):
            raise ValueError(f"route must be one of {', '.join(ROUTES)} or *")
        if rule.status is not None and not 400 <= rule.status <= 599:
            raise ValueError("status must be an HTTP error status (400..599)")
        if not 0.0 <= rule.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if rule.remaining is not None and rule.remaining < 1:
            raise ValueError("count must be at least 1")
        if rule.delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        if rule.mode is not None:
            if rule.mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            if rule.route not in (MODES[rule.mode], ANY_ROUTE):
                raise ValueError(f"{rule.mode} applies to the {MODES[rule.mode]} route only")
            if rule.status is not None or rule.delay_ms or rule.code is not None:
                raise ValueError(f"{rule.mode} is a rule of its own (no status, code or delay)")
        elif rule.status is None and not rule.delay_ms:
            raise ValueError("a fault needs a status, a delay_ms or a mode")
        elif rule.code is not None and rule.status is None:
            raise ValueError("code goes with a status")
        with self._lock:
            self._rules[rule.route] = rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def _fire(self, route: str, mode: str | None) -> FaultRule | None:
        with self._lock:
            rule = self._rules.get(route) or self._rules.get(ANY_ROUTE)
            if rule is None or rule.mode != mode:
                return None
            if self._random.random() >= rule.rate:
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    del self._rules[rule.route]
            return rule

    def on_call(self, route: str) -> FaultRule | None:
        """The rule that fires on this call, if any."""
        return self._fire(route, None)

    def fires(self, mode: str) -> bool:
        """Whether a rule of this ``mode`` fires now (on its own route)."""
        return self._fire(MODES[mode], mode) is not None


def _check_types(rule: FaultRule) -> None:
    """Rules also arrive as JSON from other processes: refuse what is not the right kind."""

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(rule.route, str):
        raise ValueError("route must be a string")
    if rule.status is not None and not whole(rule.status):
        raise ValueError("status must be an integer")
    if isinstance(rule.rate, bool) or not isinstance(rule.rate, int | float):
        raise ValueError("rate must be a number")
    if rule.remaining is not None and not whole(rule.remaining):
        raise ValueError("count must be an integer")
    if not whole(rule.delay_ms):
        raise ValueError("delay_ms must be an integer")
    if not isinstance(rule.settlement_timeout, bool):
        raise ValueError("settlement_timeout must be true or false")
    if rule.code is not None and not isinstance(rule.code, str):
        raise ValueError("code must be a string")
    if rule.mode is not None and not isinstance(rule.mode, str):
        raise ValueError("mode must be a string")
