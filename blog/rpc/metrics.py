"""Counters, HDR latency histograms and gauges a process records about itself, served over gRPC.

`Metrics` is the one place a process records its figures. Two views read it: the lab's own
`MetricsService` (below: exact HDR percentiles for the lab's tools, `lab metrics`, the bench) and
the Prometheus text exposition (blog/rpc/exposition.py: what operators and a Prometheus server
read). Neither records anything of its own: the hot path pays for one recording only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping

import grpc
from hdrh.histogram import HdrHistogram

from blog.rpc.channels import sync_channel
from blog.rpc.server import Registration, service_name
from blog.v1 import internal_pb2, internal_pb2_grpc

# Microseconds, 1 us .. 1 h, 3 significant digits (docs/METHOD.md, Latency).
HIST_LOWEST_US = 1
HIST_HIGHEST_US = 3_600_000_000
HIST_DIGITS = 3

log = logging.getLogger(__name__)

# A gauge whose value must be looked up (e.g. the outbox's row count, a database query): sampled
# only when a view asks, never on the hot path. Returns name -> value.
Probe = Callable[[], Awaitable[Mapping[str, float]]]
PROBE_TIMEOUT_S = 0.5  # a probe whose database is down or frozen must not hold up a scrape


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS)


class Metrics:
    """A process's own measurements. Values are clamped into the histogram's range.

    Names: `name` or `name.variant` (e.g. visibility_lag_us.CommentCreated: one histogram per
    event type); histograms end in `_us` (microseconds)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.counters: dict[str, int] = defaultdict(int)
        self.histograms: dict[str, HdrHistogram] = {}
        # The exact sum of each histogram's values (an HDR histogram keeps none): Prometheus's
        # `_sum`. Cleared with the histograms.
        self.sums_us: dict[str, float] = defaultdict(float)
        self.gauges: dict[str, float] = {}  # set by the code that knows (e.g. a breaker's state)
        self.probes: list[Probe] = []
        # Histograms that exist from the start and survive a reset (empty): those recorded from
        # a gc callback (blog.rpc.gc_pauses), which runs inside whatever allocation triggered
        # the collection, e.g. in the middle of snapshot()'s loop over the histograms. Were it
        # to add a name there, the loop would fail ("dictionary changed size during iteration").
        self.kept_histograms: set[str] = set()

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def record_us(self, name: str, value_us: float) -> None:
        hist = self.histograms.get(name)
        if hist is None:
            hist = self.histograms[name] = new_histogram()
        value = min(max(int(value_us), HIST_LOWEST_US), HIST_HIGHEST_US)
        hist.record_value(value)
        self.sums_us[name] += value

    def set_gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def add_probe(self, probe: Probe) -> None:
        """A gauge (or several) looked up only when a view asks (see Probe)."""
        self.probes.append(probe)

    async def sample_gauges(self) -> dict[str, float]:
        """The gauges set, and what each probe answers now; a probe that fails or takes longer
        than PROBE_TIMEOUT_S is left out (its figure is unknown, not zero)."""
        sampled = dict(self.gauges)
        for probe in self.probes:
            try:
                sampled.update(await asyncio.wait_for(probe(), PROBE_TIMEOUT_S))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # e.g. its database is down: the gauge is unknown
                log.debug("gauge probe %s: %s", getattr(probe, "__qualname__", probe), error)
        return sampled

    def keep_histogram(self, name: str) -> None:
        """Create `name` now and keep it (empty) through every reset: for a recorder that may
        run inside a reading (see kept_histograms)."""
        self.kept_histograms.add(name)
        self.histograms.setdefault(name, new_histogram())
        self.sums_us.setdefault(name, 0.0)

    def reset_histograms(self) -> None:
        # New mappings, bound at once: a gc callback during the rebuild records into the old
        # ones (a pause lost at the reset), never into a half-cleared one.
        kept = {name: new_histogram() for name in self.kept_histograms}
        self.histograms = kept
        self.sums_us = defaultdict(float, dict.fromkeys(kept, 0.0))

    def snapshot(self, gauges: Mapping[str, float] | None = None) -> internal_pb2.MetricsSnapshot:
        return internal_pb2.MetricsSnapshot(
            service=self.service,
            counters=dict(self.counters),
            histograms={name: h.encode() for name, h in list(self.histograms.items())},
            gauges=dict(gauges if gauges is not None else self.gauges),
        )


class MetricsServicer(internal_pb2_grpc.MetricsServiceServicer):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def GetMetrics(
        self, request: internal_pb2.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.MetricsSnapshot:
        gauges = await self.metrics.sample_gauges()
        snapshot = self.metrics.snapshot(gauges)
        if request.reset_histograms:
            # Counters stay cumulative: readers take deltas. (Prometheus sees the histograms'
            # reset as a counter reset, which rate() and increase() allow for.)
            self.metrics.reset_histograms()
        return snapshot


def registration(metrics: Metrics) -> Registration:
    return (
        internal_pb2_grpc.add_MetricsServiceServicer_to_server,
        MetricsServicer(metrics),
        service_name(internal_pb2, "MetricsService"),
    )


def fetch(
    address: str, *, reset: bool = False, timeout_s: float = 10.0
) -> internal_pb2.MetricsSnapshot:
    """One process's snapshot, over its MetricsService (blocking; for the CLI, bench and tests).

    reset: start its histograms afresh after this snapshot."""

    with sync_channel(address) as channel:
        request = internal_pb2.GetMetricsRequest(reset_histograms=reset)
        return internal_pb2_grpc.MetricsServiceStub(channel).GetMetrics(request, timeout=timeout_s)


def decode_histogram(encoded: bytes) -> HdrHistogram:
    return HdrHistogram.decode(encoded)
