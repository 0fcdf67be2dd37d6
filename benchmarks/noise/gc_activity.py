"""Python GC pauses in the services during a step, from what each process records about itself
(blog/rpc/gc_pauses.py) and serves over its MetricsService."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from hdrh.histogram import HdrHistogram

from blog.rpc.gc_pauses import GENERATIONS, counter_names, histogram_name
from blog.rpc.metrics import decode_histogram, new_histogram
from blog.rpc.metrics import fetch as fetch_metrics
from blog.v1 import internal_pb2


@dataclass(frozen=True)
class GcGeneration:
    """One generation's collections in one process over a step."""

    collections: int
    pause_total_ms: float
    pause_max_ms: float | None  # None: no collection
    # The process's histograms were reset during the step (e.g. the query service's, at the
    # generator's warm-up end): the maximum covers the part of the step after the reset.
    max_after_reset: bool = False


def difference(after: HdrHistogram, before: HdrHistogram) -> HdrHistogram | None:
    """What was recorded between two snapshots of one histogram; None when `after` holds less
    than `before` somewhere (it was reset in between)."""
    out = new_histogram()
    for item in after.get_recorded_iterator():
        value = item.value_iterated_to
        count = item.count_at_value_iterated_to - before.get_count_at_value(value)
        if count < 0:
            return None
        if count:
            out.record_value(value, count)
    if out.get_total_count() != after.get_total_count() - before.get_total_count():
        return None  # `before` held values `after` no longer does
    return out


def generation_delta(
    after: internal_pb2.MetricsSnapshot, before: internal_pb2.MetricsSnapshot, generation: int
) -> GcGeneration:
    collections_name, pause_name = counter_names(generation)
    collections = after.counters.get(collections_name, 0) - before.counters.get(collections_name, 0)
    pause_us = after.counters.get(pause_name, 0) - before.counters.get(pause_name, 0)
    name = histogram_name(generation)
    hist_after = decode_histogram(after.histograms[name]) if name in after.histograms else None
    hist_before = (
        decode_histogram(before.histograms[name]) if name in before.histograms else new_histogram()
    )
    window = difference(hist_after, hist_before) if hist_after is not None else None
    reset = hist_after is not None and window is None
    if reset:
        window = hist_after  # everything since the reset, which was inside the step
    longest = window.get_max_value() / 1000 if window and window.get_total_count() else None
    return GcGeneration(collections, pause_us / 1000, longest, reset)


Snapshots = dict[str, internal_pb2.MetricsSnapshot]  # process name -> its metrics


def snapshots(addresses: dict[str, str]) -> tuple[Snapshots, list[str]]:
    """Each service process's metrics (by process name), and what could not be read."""
    found: Snapshots = {}
    problems: list[str] = []
    for name, address in addresses.items():
        try:
            found[name] = fetch_metrics(address, timeout_s=5)
        except grpc.RpcError as error:
            problems.append(f"{name}: metrics: {error.code().name}")  # type: ignore[attr-defined]
    return found, problems


def gc_deltas(after: Snapshots, before: Snapshots) -> dict[str, dict[str, GcGeneration]]:
    """Per process and generation ("gen0", ...): its collections during the step."""
    return {
        name: {f"gen{g}": generation_delta(snapshot, before[name], g) for g in GENERATIONS}
        for name, snapshot in after.items()
        if name in before
    }
