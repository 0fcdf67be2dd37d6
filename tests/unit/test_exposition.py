"""The Prometheus view of a process's Metrics: buckets derived from HDR, the naming rules, gauges
sampled at scrape time, and /metrics over HTTP parsed by prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import random
import urllib.request
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from blog.rpc.exposition import (
    BUCKETS_S,
    BUCKETS_US,
    cumulative_counts,
    families,
    read,
    start_exposition,
)
from blog.rpc.metrics import Metrics, new_histogram


class Fixed:
    """A collector of fixed families (what MetricsCollector yields, without the loop hop)."""

    def __init__(self, built: list[Metric]) -> None:
        self.built = built

    def collect(self) -> list[Metric]:
        return self.built


def exposed(metrics: Metrics) -> dict[str, Metric]:
    """The text a scrape of `metrics` gives, parsed back by prometheus_client's parser."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(families(asyncio.run(read(metrics)))))
    text = generate_latest(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Metric, suffix: str = "") -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in family.samples if s.name == family.name + suffix]


def test_buckets_count_the_values_at_or_below_each_bound() -> None:
    rng = random.Random(7)
    hist = new_histogram()
    values = [int(rng.lognormvariate(9, 2)) + 1 for _ in range(5000)]
    # Away from the bounds: a value within 0.1 % of one shares its HDR bucket (documented).
    values = [v for v in values if all(abs(v - b) > b * 0.002 for b in BUCKETS_US)]
    for value in values:
        hist.record_value(value)
    expected = tuple(sum(1 for v in values if v <= bound) for bound in BUCKETS_US)
    assert cumulative_counts(hist, BUCKETS_US) == expected
    assert cumulative_counts(new_histogram(), BUCKETS_US) == (0,) * len(BUCKETS_US)


def test_families_follow_prometheus_naming_conventions() -> None:
    metrics = Metrics("query")
    metrics.inc("events_applied", 3)
    metrics.inc("rpc.blog.v1.QueryService/GetPostView.OK", 5)
    metrics.inc("rpc.blog.v1.QueryService/GetPostView.NOT_FOUND")
    for us in (300, 1_500, 45_000, 70_000):
        metrics.record_us("rpc_us.blog.v1.QueryService/GetPostView", us)
    metrics.record_us("visibility_lag_us", 3_000)  # the sum of the per-type ones: not exposed
    metrics.record_us("visibility_lag_us.blog.comment.created", 3_000)
    metrics.record_us("delivery_delay_us", 2_000)
    metrics.record_us("something_new_us", 10)  # no description yet: exposed all the same
    metrics.set_gauge("outbox_rows", 4)

    found = exposed(metrics)

    assert found["blog_events_applied"].type == "counter"
    assert samples(found["blog_events_applied"], "_total") == [({"service": "query"}, 3.0)]
    handled = dict(
        (labels["grpc_code"], value)
        for labels, value in samples(found["grpc_server_handled"], "_total")
    )
    assert handled == {"OK": 5.0, "NOT_FOUND": 1.0}
    rpc = found["grpc_server_handling_seconds"]
    assert rpc.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in rpc.samples if s.name.endswith("_bucket")}
    assert [float(le) for le in buckets if le != "+Inf"] == list(BUCKETS_S)
    assert buckets["0.0005"] == 1 and buckets["0.002"] == 2 and buckets["0.05"] == 3
    assert buckets["+Inf"] == 4 == samples(rpc, "_count")[0][1]
    assert samples(rpc, "_sum")[0][1] == pytest.approx(0.1168)  # seconds, exact
    assert samples(rpc, "_count")[0][0] == {
        "service": "query",
        "grpc_service": "blog.v1.QueryService",
        "grpc_method": "GetPostView",
    }
    lag = found["blog_visibility_lag_seconds"]
    assert {s.labels.get("event_type") for s in lag.samples} == {"blog.comment.created"}
    assert samples(lag, "_count") == [
        ({"service": "query", "event_type": "blog.comment.created"}, 1.0)
    ]
    assert found["blog_delivery_delay_seconds"].type == "histogram"
    assert found["blog_something_new_seconds"].documentation.startswith("Histogram something")
    assert samples(found["blog_outbox_rows"]) == [({"service": "query"}, 4.0)]
    assert found["blog_outbox_rows"].type == "gauge"


def test_a_probe_that_fails_or_hangs_leaves_its_gauge_out() -> None:
    metrics = Metrics("posts")
    metrics.set_gauge("breaker_open", 0)

    async def answers() -> Mapping[str, float]:
        return {"outbox_rows": 2}

    async def fails() -> Mapping[str, float]:
        raise ConnectionError("database down")

    async def hangs() -> Mapping[str, float]:
        await asyncio.sleep(60)
        return {"never": 1}

    for probe in (answers, fails, hangs):
        metrics.add_probe(probe)
    assert asyncio.run(metrics.sample_gauges()) == {"breaker_open": 0, "outbox_rows": 2}


def test_a_reset_clears_the_histograms_and_their_sums_only() -> None:
    metrics = Metrics("query")
    metrics.inc("events_applied")
    metrics.record_us("visibility_lag_us.x", 10)
    metrics.reset_histograms()
    assert metrics.histograms == {} and dict(metrics.sums_us) == {}
    assert metrics.counters["events_applied"] == 1


def test_metrics_endpoint_serves_the_text_format_from_the_loop() -> None:
    async def scrape() -> str:
        metrics = Metrics("comments")
        metrics.inc("comments_waited")
        metrics.record_us("causality_wait_us", 12_000)
        exposition = start_exposition(metrics, "127.0.0.1:0", None)
        try:
            url = f"http://{exposition.address}/metrics"
            # The collector hands the reading to this loop: fetch from another thread.
            with await asyncio.to_thread(urllib.request.urlopen, url, timeout=5) as reply:
                return str(reply.read().decode())
        finally:
            await exposition.stop()

    names = {f.name: f.type for f in text_string_to_metric_families(asyncio.run(scrape()))}
    assert names["blog_comments_waited"] == "counter"
    assert names["blog_causality_wait_seconds"] == "histogram"
    assert names["process_cpu_seconds"] == "counter"  # prometheus_client's process collector
