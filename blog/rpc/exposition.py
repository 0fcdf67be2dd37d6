"""The Prometheus view of a process's Metrics: `/metrics` in the text exposition format, served by
`prometheus_client` on a port of its own (docs/METHOD.md, Watching a run live).

Why two views of one `Metrics` object: the lab's tools need exact percentiles, which only the
HDR histograms hold, and get them from the gRPC `MetricsService`; operators and a Prometheus
server need the standard format, with buckets that add up across replicas and over any window
in PromQL. So nothing is recorded twice: this module reads `Metrics` at scrape time, on the
process's event loop (where everything is recorded, so a reading is consistent), and turns it
into Prometheus families by the naming rules below (prometheus_names.py).

Histograms, not summaries: a summary's quantiles cannot be aggregated across the replicas of a
service, nor recomputed for another window; cumulative buckets can (`histogram_quantile` over
`rate(..._bucket[1m])`). The buckets are one set for every latency (BUCKETS_S), derived from
the HDR histogram at scrape time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from blog.rpc.metrics import Metrics
from blog.rpc.prometheus_names import Series, counter_series, gauge_series, histogram_series

# Upper bounds in seconds, 1-2-5 per decade from 0.5 ms (about one loopback gRPC hop here) to
# 10 s, then 30 s and 60 s for outages (a consumer's lag while its database is down). 50 ms is a
# bound on purpose: it is the lab's SLO for p99 (docs/METHOD.md, Capacity), so the share of
# requests within it is exact in PromQL. `histogram_quantile` interpolates inside a bucket: a
# p99 read from these is good to a bucket's width; the exact one is `lab metrics` (HDR).
BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
    0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
BUCKETS_US = tuple(round(b * 1e6) for b in BUCKETS_S)
# A process whose event loop does not answer in time fails the scrape; just under the lab
# Prometheus's scrape timeout (1 s), so that the failure is the process's answer.
SCRAPE_TIMEOUT_S = 0.9


@dataclass(frozen=True)
class HistogramReading:
    """One histogram at scrape time: cumulative counts at each of BUCKETS_S, then in total."""

    cumulative: tuple[int, ...]
    count: int
    sum_s: float


@dataclass(frozen=True)
class Reading:
    """Everything a scrape exposes of one Metrics object, read at one moment."""

    service: str
    counters: dict[str, int]
    histograms: dict[str, HistogramReading]
    gauges: dict[str, float]


def cumulative_counts(hist: HdrHistogram, bounds_us: Sequence[int]) -> tuple[int, ...]:
    """How many recorded values are <= each bound. A value shares its HDR bucket with values
    within 0.1 % of it (3 significant digits), so a bound counts its bucket's neighbours too."""
    total = hist.get_total_count()
    if not total:
        return tuple(0 for _ in bounds_us)
    counts = hist.counts
    top = hist.get_counts_array_index(hist.get_max_value())  # nothing recorded above it
    result: list[int] = []
    running, start = 0, 0
    for bound in bounds_us:
        index = hist.get_counts_array_index(bound)
        if index >= top:
            result.append(total)
            continue
        running += sum(counts[start : index + 1])  # a C-level slice: ~0.1 ms a histogram
        start = index + 1
        result.append(running)
    return tuple(result)


async def read(metrics: Metrics) -> Reading:
    """A consistent reading (run it on the loop that records into `metrics`)."""
    gauges = await metrics.sample_gauges()
    histograms = {
        name: HistogramReading(
            cumulative_counts(hist, BUCKETS_US),
            hist.get_total_count(),
            metrics.sums_us.get(name, 0.0) / 1e6,
        )
        for name, hist in list(metrics.histograms.items())
    }
    return Reading(metrics.service, dict(metrics.counters), histograms, gauges)


def families(reading: Reading) -> list[Metric]:
    """The Prometheus families of a reading, named by prometheus_names' rules. Every series
    carries the `service` label; a family's series that lack one of its labels get it empty."""
    series: list[tuple[Series, float | HistogramReading]] = [
        (series, float(value) * series.scale)
        for name, value in sorted(reading.counters.items())
        for series in [counter_series(name)]
    ]
    variants = {name.split(".", 1)[0] for name in reading.histograms if "." in name}
    series += [
        (histogram_series(name), hist)
        for name, hist in sorted(reading.histograms.items())
        if name not in variants  # the sum of its `name.variant` histograms, which are exposed
    ]
    series += [(gauge_series(name), value) for name, value in sorted(reading.gauges.items())]
    label_names: dict[str, list[str]] = {}
    for one, _ in series:
        names = label_names.setdefault(one.family, ["service"])
        names.extend(label for label in one.labels if label not in names)
    built: dict[str, Metric] = {}
    for one, value in series:
        names = label_names[one.family]
        labels = {"service": reading.service, **one.labels}
        values = [labels.get(label, "") for label in names]
        family = built.get(one.family)
        if family is None:
            family = built[one.family] = _FAMILY[one.kind](one.family, one.help, labels=names)
        if isinstance(value, HistogramReading):
            assert isinstance(family, HistogramMetricFamily)
            buckets = [(_le(b), c) for b, c in zip(BUCKETS_S, value.cumulative, strict=True)]
            family.add_metric(values, [*buckets, ("+Inf", value.count)], value.sum_s)
        else:
            assert isinstance(family, CounterMetricFamily | GaugeMetricFamily)
            family.add_metric(values, value)
    return list(built.values())


_FAMILY = {
    "counter": CounterMetricFamily,
    "histogram": HistogramMetricFamily,
    "gauge": GaugeMetricFamily,
}


def _le(bound_s: float) -> str:
    return f"{bound_s:g}"


class MetricsCollector(Collector):
    """prometheus_client's collector of one Metrics object: reads it on `loop` at each scrape
    (the HTTP server calls collect() on its own thread)."""

    def __init__(self, metrics: Metrics, loop: asyncio.AbstractEventLoop) -> None:
        self.metrics = metrics
        self.loop = loop

    def collect(self) -> Iterator[Metric]:
        future = asyncio.run_coroutine_threadsafe(read(self.metrics), self.loop)
        # A loop that does not answer fails the scrape (Prometheus: up == 0), rather than
        # serving stale figures as if they were current.
        reading = future.result(timeout=SCRAPE_TIMEOUT_S)
        yield from families(reading)


@dataclass
class Exposition:
    """A running /metrics endpoint; stop() closes it."""

    address: str  # host:port
    server: WSGIServer
    thread: threading.Thread

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.shutdown)
        self.server.server_close()


def start_exposition(metrics: Metrics, listen: str, address_file: Path | None) -> Exposition:
    """Serve /metrics on `listen` (host:port; port 0: any) from a thread, for the running loop;
    write the bound host:port to `address_file` (atomically) when given."""
    host, port = listen.rsplit(":", 1)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricsCollector(metrics, asyncio.get_running_loop()))
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory, fds
    server, thread = start_http_server(int(port), addr=host, registry=registry)
    address = f"{host}:{server.server_port}"
    if address_file is not None:
        tmp = address_file.with_suffix(".tmp")
        tmp.write_text(address)
        tmp.replace(address_file)
    return Exposition(address, server, thread)
