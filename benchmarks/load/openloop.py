"""Open-loop scheduling (as wrk2 does): requests have start times fixed in advance at the target
rate, and latency counts from the *scheduled* start. When the server (or the generator) stalls,
the requests that should have started meanwhile are still issued, late, and their lateness is
part of their latency: the stall cannot hide itself (coordinated omission)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Schedule:
    """Start times for one sender at `rate` per second, from `start` (seconds, monotonic).

    poisson=True spaces starts exponentially (a Poisson process of the same mean rate), which
    avoids lock-step senders; the times are still fixed in advance, independent of responses.
    """

    rate: float
    start: float
    poisson: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        # Senders are spread over the first interval, not all at t=0.
        self._next = self.start + self.rng.random() / self.rate

    def next_start(self) -> float:
        """The scheduled start of the next request, and advance the schedule."""
        scheduled = self._next
        gap = self.rng.expovariate(self.rate) if self.poisson else 1.0 / self.rate
        self._next += gap
        return scheduled

    def peek(self) -> float:
        return self._next


@dataclass(frozen=True)
class Timing:
    """One request: when it should have started, when it started, when it ended (seconds)."""

    scheduled: float
    sent: float
    done: float

    @property
    def corrected_us(self) -> float:
        """Latency as a user at the target rate sees it (from the scheduled start)."""
        return (self.done - self.scheduled) * 1e6

    @property
    def service_us(self) -> float:
        """Latency from the actual send (what a closed-loop tool reports)."""
        return (self.done - self.sent) * 1e6


def simulate(
    schedule: Schedule, duration_s: float, service_time: Callable[[float], float]
) -> list[Timing]:
    """Run one sender against a server model on a virtual clock (for tests and reasoning).

    service_time(t) is how long a request sent at time t takes. The sender has one request
    outstanding at a time, like a connection; late requests are sent as soon as it is free.
    """
    timings = []
    free_at = schedule.start
    end = schedule.start + duration_s
    while schedule.peek() < end:
        scheduled = schedule.next_start()
        sent = max(scheduled, free_at)
        done = sent + service_time(sent)
        timings.append(Timing(scheduled, sent, done))
        free_at = done
    return timings
