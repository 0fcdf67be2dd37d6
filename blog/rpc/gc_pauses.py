"""Python's cyclic garbage collector, measured from inside a service (docs/METHOD.md, Noise):
each collection's pause, per generation, into the process's Metrics, served by its
MetricsService like every other counter and histogram.

Per generation g: counters `gc_gen<g>_collections` and `gc_gen<g>_pause_us` (the pauses' sum,
microseconds) and an HDR histogram `gc_pause_gen<g>_us` (its maximum over a window is the
longest pause; the noise sampler takes the difference of two snapshots).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from blog.rpc.metrics import Metrics

GENERATIONS = (0, 1, 2)


def counter_names(generation: int) -> tuple[str, str]:
    """(collections, summed pause in µs) counters of `generation`."""
    return f"gc_gen{generation}_collections", f"gc_gen{generation}_pause_us"


def histogram_name(generation: int) -> str:
    return f"gc_pause_gen{generation}_us"


class GcPauses:
    """A gc.callbacks entry timing each collection (the collector is not re-entrant and holds
    the GIL: one start is pending at a time, whichever thread triggered it)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._started_ns = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started_ns = time.perf_counter_ns()
            return
        pause_us = (time.perf_counter_ns() - self._started_ns) / 1000
        generation = int(info["generation"])
        collections, pause = counter_names(generation)
        self.metrics.inc(collections)
        self.metrics.inc(pause, round(pause_us))
        self.metrics.record_us(histogram_name(generation), pause_us)


def install(metrics: Metrics) -> GcPauses:
    """Time every collection of this process from now on into `metrics`. Its names exist from
    now on (counters at 0, histograms kept through resets): the callback runs inside any
    allocation, a reading of `metrics` included, and must not add a name while one iterates."""
    for generation in GENERATIONS:
        for name in counter_names(generation):
            metrics.inc(name, 0)
        metrics.keep_histogram(histogram_name(generation))
    callback = GcPauses(metrics)
    gc.callbacks.append(callback)
    return callback


def freeze() -> None:
    """Collect once, then move every object alive now to the permanent generation: what
    start-up allocated (modules, servicers, pools) is never scanned again (gc.freeze)."""
    gc.collect()
    gc.freeze()
