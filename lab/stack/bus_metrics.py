"""The bus's own figures for Prometheus: JetStream streams and consumers as nats-server's
monitoring endpoint reports them (`/jsz?streams=true&consumers=true`), read at each scrape.

nats-server has no Prometheus endpoint of its own; NATS's exporter (prometheus-nats-exporter) is
a Go binary neither PyPI nor Debian carries here, so the lab exports the few figures it needs
itself, under that exporter's names and labels (`-jsz=all`): its dashboards and queries apply.
(One exception: its `jetstream_stream_consumer_count` is `jetstream_stream_consumers` here, as
promtool's lint wants: `_count` belongs to histograms and summaries.)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from typing import NotRequired, TypedDict

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

JSZ_QUERY = "/jsz?streams=true&consumers=true"


class SequencePair(TypedDict):
    consumer_seq: int
    stream_seq: int


class ClusterInfo(TypedDict, total=False):
    leader: str


class ConsumerDetail(TypedDict):
    stream_name: str
    name: str
    delivered: SequencePair
    ack_floor: SequencePair
    num_ack_pending: int
    num_redelivered: int
    num_waiting: int
    num_pending: int
    cluster: NotRequired[ClusterInfo]


class StreamState(TypedDict):
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    consumer_count: int


class StreamDetail(TypedDict):
    name: str
    state: StreamState
    cluster: NotRequired[ClusterInfo]
    consumer_detail: NotRequired[list[ConsumerDetail]]


class AccountDetail(TypedDict):
    name: str
    stream_detail: NotRequired[list[StreamDetail]]


class Jsz(TypedDict):
    """The part of /jsz the exporter reads."""

    server_id: str
    account_details: NotRequired[list[AccountDetail]]


STREAM_GAUGES: dict[str, tuple[str, str]] = {
    # family: (field of the stream's state, help)
    "jetstream_stream_total_messages": ("messages", "Messages the stream holds."),
    "jetstream_stream_total_bytes": ("bytes", "Bytes the stream holds."),
    "jetstream_stream_first_seq": ("first_seq", "The stream's first sequence number."),
    "jetstream_stream_last_seq": ("last_seq", "The stream's last sequence number."),
    "jetstream_stream_consumers": ("consumer_count", "Consumers of the stream."),
}
CONSUMER_GAUGES: dict[str, tuple[str, str]] = {
    "jetstream_consumer_num_pending": (
        "num_pending",
        "Messages of the stream not yet delivered to the consumer (its backlog).",
    ),
    "jetstream_consumer_num_ack_pending": (
        "num_ack_pending",
        "Messages delivered to the consumer and not yet acknowledged.",
    ),
    "jetstream_consumer_num_redelivered": (
        "num_redelivered",
        "Messages delivered more than once and not yet acknowledged.",
    ),
    "jetstream_consumer_num_waiting": (
        "num_waiting",
        "Pull requests waiting at the server (0 for a pull consumer: nobody is fetching).",
    ),
}
STREAM_LABELS = ["server_id", "account", "stream_name", "is_stream_leader"]
CONSUMER_LABELS = ["server_id", "account", "stream_name", "consumer_name", "is_consumer_leader"]


def _leader(detail: StreamDetail | ConsumerDetail, server_id: str) -> str:
    """ "true" when this server leads the stream or consumer (or it is not clustered)."""
    leader = detail.get("cluster", {}).get("leader")
    return "true" if leader in (None, server_id) else "false"


def jsz_families(replies: Iterable[Jsz]) -> list[Metric]:
    """The JetStream families of one /jsz reply per server."""
    streams = {
        n: GaugeMetricFamily(n, h, labels=STREAM_LABELS) for n, (_, h) in STREAM_GAUGES.items()
    }
    consumers = {
        n: GaugeMetricFamily(n, h, labels=CONSUMER_LABELS) for n, (_, h) in CONSUMER_GAUGES.items()
    }
    delivered = GaugeMetricFamily(
        "jetstream_consumer_delivered_stream_seq",
        "The last stream sequence delivered to the consumer.",
        labels=CONSUMER_LABELS,
    )
    ack_floor = GaugeMetricFamily(
        "jetstream_consumer_ack_floor_stream_seq",
        "The stream sequence up to which the consumer acknowledged everything.",
        labels=CONSUMER_LABELS,
    )
    for jsz in replies:
        server = jsz["server_id"]
        for account in jsz.get("account_details", []):
            for stream in account.get("stream_detail", []):
                labels = [server, account["name"], stream["name"], _leader(stream, server)]
                for name, (field, _) in STREAM_GAUGES.items():
                    streams[name].add_metric(labels, float(stream["state"][field]))  # type: ignore[literal-required]
                for consumer in stream.get("consumer_detail", []):
                    labels = [
                        server,
                        account["name"],
                        stream["name"],
                        consumer["name"],
                        _leader(consumer, server),
                    ]
                    for name, (field, _) in CONSUMER_GAUGES.items():
                        consumers[name].add_metric(labels, float(consumer[field]))  # type: ignore[literal-required]
                    delivered.add_metric(labels, float(consumer["delivered"]["stream_seq"]))
                    ack_floor.add_metric(labels, float(consumer["ack_floor"]["stream_seq"]))
    built = [*streams.values(), *consumers.values(), delivered, ack_floor]
    return [family for family in built if family.samples]  # none while the bus is down


def fetch_jsz(monitor_url: str, timeout_s: float) -> Jsz:
    with urllib.request.urlopen(monitor_url.rstrip("/") + JSZ_QUERY, timeout=timeout_s) as reply:
        jsz: Jsz = json.loads(reply.read())
    return jsz


class JetStreamCollector(Collector):
    """Reads /jsz of each monitoring URL at every scrape. A server that does not answer (the
    bus is down: a kill-bus fault) shows as `lab_nats_monitor_up 0` and no JetStream series."""

    def __init__(self, monitor_urls: Sequence[str], timeout_s: float = 1.0) -> None:
        self.monitor_urls = list(monitor_urls)
        self.timeout_s = timeout_s

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "lab_nats_monitor_up",
            "1 if nats-server's monitoring endpoint answered this scrape, else 0.",
            labels=["monitor"],
        )
        replies: list[Jsz] = []
        for url in self.monitor_urls:
            try:
                replies.append(fetch_jsz(url, self.timeout_s))
                up.add_metric([url], 1.0)
            except (urllib.error.URLError, OSError, ValueError):
                up.add_metric([url], 0.0)
        yield up
        yield from jsz_families(replies)
