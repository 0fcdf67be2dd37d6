"""Before a sweep step: wait until the machine is idle again (docs/METHOD.md, Capacity).

An overloaded step ends when the generator has drained its own requests, but the stack may
still be working through what they started (calls and commits behind a cancelled request,
its collector's debt): a step begun then paid for the previous one in its first seconds
(its halves disagreed, and it was flagged not stationary). Waiting for the machine's busy
share to fall back near an idle stack's (~1-2 % here) removes that without a fixed pause
that would be too long at low rates and too short after an overload."""

from __future__ import annotations

import time

from benchmarks.suite.cost import cpu_ticks, machine_shares
from benchmarks.suite.results import Settled

IDLE_BUSY_PERCENT = 10.0  # of the whole machine over one window; an idle stack: ~1-2 %
WINDOW_S = 1.0
MAX_WAIT_S = 30.0


def settle(
    idle_busy_percent: float = IDLE_BUSY_PERCENT,
    max_wait_s: float = MAX_WAIT_S,
    window_s: float = WINDOW_S,
) -> Settled:
    """Wait, in windows of `window_s`, until one window's busy share is at most
    `idle_busy_percent` (at least one window; at most `max_wait_s`)."""
    started = time.monotonic()
    busy: float | None = None
    while True:
        before = cpu_ticks()
        time.sleep(window_s)
        busy = machine_shares(cpu_ticks(), before).get("busy_percent")
        waited = time.monotonic() - started
        if busy is None or busy <= idle_busy_percent:
            return {"wait_s": waited, "busy_percent": busy, "idle": True}
        if waited >= max_wait_s:
            return {"wait_s": waited, "busy_percent": busy, "idle": False}
