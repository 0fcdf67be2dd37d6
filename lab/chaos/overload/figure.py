"""One overload experiment's timeline as a figure, written beside its results: per second the
load offered, the answers and the answers within the SLO; p99 from the scheduled start against
the SLO; requests in flight and (async) the backlog; the spike shaded (lab/plotting.py's look)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.suite.profiles import SLO_P99_MS
from lab.chaos.overload.timeline import Second
from lab.plotting import OKABE_ITO, log_y, new_figure, save, with_style

FILE = "timeline.png"


def draw(seconds: Sequence[Second], spike_s: float, title: str, out: Path) -> str:
    xs = [s.second for s in seconds]
    with with_style():
        fig, _ = new_figure(7.5)
        load, latency, queue = fig.subplots(3, 1, sharex=True)
        load.plot(xs, [s.offered for s in seconds], color=OKABE_ITO[7], label="offered")
        load.plot(xs, [s.completed for s in seconds], color=OKABE_ITO[4], label="answered")
        good = [s.good for s in seconds]
        load.plot(xs, good, color=OKABE_ITO[2], linestyle="--", label="within the SLO")
        load.set_ylabel("requests / s")
        load.legend(loc="upper right")
        load.set_title(title)
        p99 = [(x, s.p99_ms) for x, s in zip(xs, seconds, strict=True) if s.p99_ms]
        if p99:
            latency.plot(*zip(*p99, strict=True), color=OKABE_ITO[5], label="p99")
            log_y(latency)
        latency.axhline(SLO_P99_MS, color=OKABE_ITO[7], linewidth=0.8, linestyle=":")
        latency.set_ylabel("p99 ms (scheduled)")
        queue.plot(xs, [s.in_flight for s in seconds], color=OKABE_ITO[0], label="in flight")
        backlog = [
            (x, s.backlog) for x, s in zip(xs, seconds, strict=True) if s.backlog is not None
        ]
        if backlog:
            queue.plot(*zip(*backlog, strict=True), color=OKABE_ITO[1], label="bus backlog")
        queue.set_ylabel("requests / messages")
        queue.set_xlabel("seconds from the spike's start")
        queue.legend(loc="upper right")
        for ax in (load, latency, queue):
            ax.axvspan(0, spike_s, color=OKABE_ITO[3], alpha=0.25)
        return save(fig, out, FILE)
