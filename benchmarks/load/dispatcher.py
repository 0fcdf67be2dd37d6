"""The open-loop generator of one Locust process: every arrival of the schedule becomes a request
in its own greenlet, sent at its scheduled time whatever earlier requests are doing
(docs/METHOD.md, Load: operations stay independent).

What it guarantees, and measures about itself (a measurement tool measures itself):
- each request's actual send time beside its scheduled one (`issue` records both: the send lag),
  so a generator that fell behind its schedule is seen, not hidden;
- a **bound on requests in flight**: an arrival that finds the bound reached is not sent; it is
  counted (`on_overflow`), logged like any request, never silently dropped;
- the **end**: at the schedule's end (or when asked to stop) no request starts any more, and
  the ones in flight are waited for (each has its own deadline), so none is cut off unlogged.

Runs under gevent (Locust's patched process); the arrival times come from
benchmarks/load/openloop.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import gevent
import gevent.pool


class Dispatcher:
    """Sends `issue(scheduled)` for each arrival time (monotonic seconds), each in its own
    greenlet, at most `max_in_flight` at once."""

    def __init__(
        self,
        issue: Callable[[float], None],
        *,
        max_in_flight: int,
        on_overflow: Callable[[float], None],
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.issue = issue
        self.pool = gevent.pool.Pool(max_in_flight)
        self.on_overflow = on_overflow
        self.stopping = stopping
        self.sent = 0
        self.overflowed = 0

    @property
    def in_flight(self) -> int:
        return len(self.pool)

    def run(self, times: Iterable[float], drain_s: float) -> bool:
        """Send every arrival in `times` (ascending monotonic seconds) until they end or
        `stopping()`; then wait up to `drain_s` for the requests in flight. True if every one
        finished within it."""
        for scheduled in times:
            if self.stopping():
                break
            early = scheduled - time.monotonic()
            if early > 0:
                gevent.sleep(early)
                if self.stopping():
                    break
            if self.pool.full():
                self.overflowed += 1
                self.on_overflow(scheduled)
                continue
            self.sent += 1
            self.pool.spawn(self.issue, scheduled)
        return self.pool.join(timeout=drain_s)
