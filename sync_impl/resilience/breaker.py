"""A circuit breaker (Nygard, Release It!): closed -> open after a failure rate over a sliding
window -> half-open probes -> closed or open again. Pure logic on an injected clock, so its every
decision is tested against a fake one (tests/unit/test_resilience.py).

Written here rather than taken from PyPI (docs/METHOD.md, Resilience): circuitbreaker 2.1,
purgatory 3.0 and aiobreaker 1.2 open after N consecutive failures (not a rate over a window),
read the time themselves (purgatory and aiobreaker the wall clock, which can jump), and in the
half-open state let every waiting call through at once instead of a bounded number of probes.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from sync_impl.resilience.settings import BreakerSettings
from sync_impl.resilience.window import SlidingWindow

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # seconds, monotonic


class State(enum.StrEnum):
    CLOSED = "closed"  # calls go through; outcomes are counted
    OPEN = "open"  # calls are refused at once, until open_s has passed
    HALF_OPEN = "half-open"  # a bounded number of probe calls go through; the first verdict decides


class CircuitBreaker:
    """One peer's breaker. A caller asks `allow()` before each call and reports its outcome:
    `record_success()` (the peer answered, NOT_FOUND included), `record_failure()` (it was
    unavailable or missed the deadline), or `record_abandoned()` (no verdict: the caller gave
    up). `on_change(old, new)` is told of every transition."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        clock: Clock = time.monotonic,
        on_change: Callable[[State, State], None] = lambda old, new: None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock
        self.on_change = on_change
        self.state = State.CLOSED
        self.opened_at = 0.0
        self.probes = 0  # probe calls in flight (half-open)
        self.window = SlidingWindow(settings.window_s, settings.window_buckets)

    def allow(self) -> bool:
        """May a call go to the peer now? (Half-open: True reserves a probe slot.)"""
        if self.state is State.OPEN:
            if self.clock() - self.opened_at < self.settings.open_s:
                return False
            self._become(State.HALF_OPEN)
        if self.state is State.HALF_OPEN:
            if self.probes >= self.settings.half_open_probes:
                return False
            self.probes += 1
        return True

    def record_success(self) -> None:
        if self.state is State.HALF_OPEN:
            self._become(State.CLOSED)  # the peer answers again
        elif self.state is State.CLOSED:
            self.window.add(self.clock(), failed=False)
        # OPEN: a call sent before the breaker opened answered late; the open time runs on.

    def record_failure(self) -> None:
        now = self.clock()
        if self.state is State.HALF_OPEN:
            self._open(now)  # the probe failed: another open_s
        elif self.state is State.CLOSED:
            self.window.add(now, failed=True)
            calls, failures = self.window.totals(now)
            if calls >= self.settings.min_calls and failures >= self.settings.failure_rate * calls:
                self._open(now)

    def record_abandoned(self) -> None:
        """The call ended without a verdict on the peer (cancelled): free its probe slot."""
        if self.state is State.HALF_OPEN and self.probes > 0:
            self.probes -= 1

    def _open(self, now: float) -> None:
        self.opened_at = now
        self._become(State.OPEN)

    def _become(self, state: State) -> None:
        old, self.state = self.state, state
        self.probes = 0
        if state is State.CLOSED:
            self.window.clear()  # a fresh start: old failures do not count against the peer
        log.info("circuit breaker %s: %s -> %s", self.name, old, state)
        self.on_change(old, state)
