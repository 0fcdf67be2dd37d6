"""Counters and HDR latency histograms a process records about itself, served over gRPC."""

from __future__ import annotations

from collections import defaultdict

import grpc
from hdrh.histogram import HdrHistogram

from blog.rpc.channels import sync_channel
from blog.rpc.server import Registration, service_name
from blog.v1 import internal_pb2, internal_pb2_grpc

# Microseconds, 1 us .. 1 h, 3 significant digits (docs/METHOD.md, Latency).
HIST_LOWEST_US = 1
HIST_HIGHEST_US = 3_600_000_000
HIST_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS)


class Metrics:
    """A process's own measurements. Values are clamped into the histogram's range."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.counters: dict[str, int] = defaultdict(int)
        self.histograms: dict[str, HdrHistogram] = {}

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def record_us(self, name: str, value_us: float) -> None:
        hist = self.histograms.get(name)
        if hist is None:
            hist = self.histograms[name] = new_histogram()
        hist.record_value(min(max(int(value_us), HIST_LOWEST_US), HIST_HIGHEST_US))

    def snapshot(self) -> internal_pb2.MetricsSnapshot:
        return internal_pb2.MetricsSnapshot(
            service=self.service,
            counters=dict(self.counters),
            histograms={name: h.encode() for name, h in self.histograms.items()},
        )


class MetricsServicer(internal_pb2_grpc.MetricsServiceServicer):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def GetMetrics(
        self, request: internal_pb2.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.MetricsSnapshot:
        snapshot = self.metrics.snapshot()
        if request.reset_histograms:
            self.metrics.histograms.clear()  # counters stay cumulative: readers take deltas
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
