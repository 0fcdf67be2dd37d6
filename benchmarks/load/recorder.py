"""The measurements of one generator process (benchmarks/locustfile.py): per operation, HDR
histograms of the corrected (from the scheduled start) and service (from the send) latency,
errors by status, extra histograms and counters of the scenarios; and the generator's own
figures: its send lag (send - scheduled start, every request), its requests in flight and its
CPU, sampled each second. Written to --lab-out DIR/generator-<pid>.json at test stop."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import psutil

from benchmarks.load.hdr import new_histogram, record


def _histogram(histograms: dict[str, Any], name: str) -> Any:
    """`name`'s histogram, made on first use. Not `setdefault(name, new_histogram())`: that
    builds (and throws away) a histogram on every call, ~0.1 ms each; the generator did so
    twice per request, ~0.27 ms of its CPU per request recorded (~0.006 ms now), which at its
    priority the stack it measures lost."""
    hist = histograms.get(name)
    if hist is None:
        hist = histograms[name] = new_histogram()
    return hist


class Recorder:
    """This process's measurements: per operation, corrected and service-time histograms."""

    def __init__(self) -> None:
        self.corrected: dict[str, Any] = {}
        self.service: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.ok: Counter[str] = Counter()  # answered, partial answers included
        self.partial: Counter[str] = Counter()  # of `ok`: answers the server marked partial
        self.errors: dict[str, Counter[str]] = {}
        self.counters: Counter[str] = Counter()
        self.cpu_samples: list[float] = []
        self.send_lag = new_histogram()  # us, every measured request that was sent
        self.in_flight: Callable[[], int] = lambda: 0  # the dispatcher's, when there is one
        self.in_flight_samples: list[int] = []
        self.t0 = time.monotonic()
        self.warmup_s = 0.0
        self.duration_s = 0.0  # the measured window's length, when the schedule has one
        # Every operation's corrected latency, in the measured window's first and second half:
        # a step whose halves disagree was not stationary (a queue growing, or a stall).
        self.halves = (new_histogram(), new_histogram())
        self.arrivals = 0  # arrivals scheduled in the measured window (open loop)
        self.first: float | None = None
        self.last: float | None = None

    def measuring(self, scheduled: float) -> bool:
        return scheduled >= self.t0 + self.warmup_s

    def arrival(self, scheduled: float) -> None:
        """An arrival the dispatcher handles (sends, or cannot): counted, so that requests
        that never finished (cut off at the end) show as the difference to those recorded."""
        if self.measuring(scheduled):
            self.arrivals += 1

    def add(
        self,
        op: str,
        scheduled: float,
        sent: float | None,
        done: float,
        error: str | None,
        partial: bool = False,
    ) -> None:
        """One request (monotonic seconds); `sent` None: never sent (the generator's bound).
        `partial`: answered, and the answer said it is partial (counted in `ok` and apart in
        `partial`; its latency recorded like any answer's)."""
        if not self.measuring(scheduled):
            return
        self.first = scheduled if self.first is None else min(self.first, scheduled)
        self.last = scheduled if self.last is None else max(self.last, scheduled)
        if sent is not None:
            record(self.send_lag, (sent - scheduled) * 1e6)
        if error:
            self.errors.setdefault(op, Counter())[error] += 1
            return
        self.ok[op] += 1
        if partial:
            self.partial[op] += 1
        record(_histogram(self.corrected, op), (done - scheduled) * 1e6)
        if self.duration_s:
            second = scheduled >= self.t0 + self.warmup_s + self.duration_s / 2
            record(self.halves[second], (done - scheduled) * 1e6)
        record(_histogram(self.service, op), (done - (sent or scheduled)) * 1e6)

    def add_extra(self, name: str, value_us: float) -> None:
        record(_histogram(self.extra, name), value_us)

    def dump(self, directory: str) -> None:
        if not directory or not (self.ok or self.errors):
            return
        data = {
            "pid": os.getpid(),
            "ops": {
                op: {
                    "ok": self.ok[op],
                    "partial": self.partial[op],
                    "errors": dict(self.errors.get(op, {})),
                    "corrected": self.corrected[op].encode().decode()
                    if op in self.corrected
                    else "",
                    "service": self.service[op].encode().decode() if op in self.service else "",
                }
                for op in set(self.ok) | set(self.errors)
            },
            "extra": {name: h.encode().decode() for name, h in self.extra.items()},
            "counters": dict(self.counters),
            "cpu_percent": self.cpu_samples,
            "send_lag": self.send_lag.encode().decode() if self.send_lag.total_count else "",
            "in_flight": self.in_flight_samples,
            "arrivals": self.arrivals,
            "halves": [h.encode().decode() if h.total_count else "" for h in self.halves],
            "window_s": (
                [self.first - self.t0, self.last - self.t0]
                if self.first is not None and self.last is not None
                else None
            ),
        }
        path = Path(directory) / f"generator-{os.getpid()}.json"
        path.write_text(json.dumps(data))

    def sample_cpu(self) -> None:
        """Every second, for ever (run it in a greenlet): this process's CPU percent and its
        requests in flight."""
        me = psutil.Process()
        me.cpu_percent(None)
        while True:
            gevent.sleep(1.0)
            self.cpu_samples.append(me.cpu_percent(None))
            self.in_flight_samples.append(self.in_flight())
