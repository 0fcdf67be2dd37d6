"""A process's Metrics read while the garbage collector records into them: the gc callback
(blog/rpc/gc_pauses.py) runs inside whatever allocation triggered a collection, e.g. in the
middle of a snapshot's loop over the histograms, and must never add a name there (a benchmark
once ended on "UNKNOWN: dictionary changed size during iteration" from GetMetrics)."""

from __future__ import annotations

import gc

import pytest
from hdrh.histogram import HdrHistogram

from blog.rpc import gc_pauses
from blog.rpc.metrics import Metrics


def installed() -> tuple[Metrics, gc_pauses.GcPauses]:
    metrics = Metrics("test")
    callback = gc_pauses.install(metrics)
    gc.callbacks.remove(callback)  # driven by hand below, not by the collector
    return metrics, callback


def test_a_collection_inside_a_snapshot_adds_nothing_to_what_it_iterates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics, callback = installed()
    for name in ("a_us", "b_us"):
        metrics.record_us(name, 10)
    metrics.reset_histograms()  # the benchmark resets after every reading
    for name in ("a_us", "b_us"):
        metrics.record_us(name, 20)
    encode = HdrHistogram.encode

    def encode_during_a_collection(self: HdrHistogram) -> bytes:
        callback("start", {"generation": 2})
        callback("stop", {"generation": 2})
        encoded: bytes = encode(self)
        return encoded

    monkeypatch.setattr(HdrHistogram, "encode", encode_during_a_collection)
    snapshot = metrics.snapshot()
    assert {"a_us", "b_us", gc_pauses.histogram_name(2)} <= set(snapshot.histograms)
    collections, _ = gc_pauses.counter_names(2)
    assert metrics.counters[collections] >= 1


def test_gc_names_exist_from_the_start_and_survive_a_reset_empty() -> None:
    metrics, callback = installed()
    names = {gc_pauses.histogram_name(g) for g in gc_pauses.GENERATIONS}
    assert names <= set(metrics.histograms)
    assert all(
        n in metrics.counters for g in gc_pauses.GENERATIONS for n in gc_pauses.counter_names(g)
    )
    callback("start", {"generation": 0})
    callback("stop", {"generation": 0})
    metrics.record_us("visibility_lag_us", 100)
    metrics.reset_histograms()
    assert set(metrics.histograms) == names  # the others go, as before
    assert all(metrics.histograms[n].get_total_count() == 0 for n in names)
    assert set(metrics.sums_us) == names and not any(metrics.sums_us.values())
