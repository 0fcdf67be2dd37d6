"""What the services say once a second during an overload experiment, read from outside: every
server's handled RPCs (their own counters, through the lab's MetricsService: the work done per
client request, retries included), and for async the backlog (JetStream's pending and
unacknowledged messages per consumer, from nats-server's monitoring endpoint), the rows waiting
in the outboxes and the query service's visibility lag over the last second."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from typing import Any

import asyncpg

from async_impl.schema import OUTBOX
from async_impl.subscriptions import SUBSCRIPTIONS
from blog.rpc.metrics import decode_histogram
from blog.rpc.metrics import fetch as fetch_metrics
from lab.chaos.overload.timeline import Sample
from lab.stack.stackfile import StackInfo

RPC_COUNTER_PREFIX = "rpc."  # blog/rpc/server_metrics.py: rpc.<method>.<status code>
INTERVAL_S = 1.0


class Sampler:
    """Samples a stack every INTERVAL_S on a thread of its own, until stopped."""

    def __init__(self, stack: StackInfo) -> None:
        self.stack = stack
        self.samples: list[Sample] = []
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="overload-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.samples.append(loop.run_until_complete(self._sample()))
                except Exception as error:  # a service or the bus down: say so, keep sampling
                    if len(self.problems) < 20:
                        self.problems.append(f"{time.time():.1f}: {type(error).__name__}: {error}")
                self._stop.wait(max(0.0, INTERVAL_S - (time.monotonic() - started)))
        finally:
            loop.close()

    async def _sample(self) -> Sample:
        at = time.time()
        rpcs = 0
        lag: float | None = None
        for service, addresses in self.stack["services"].items():
            for address in addresses:
                try:
                    snap = fetch_metrics(address, reset=service == "query", timeout_s=0.5)
                except Exception:
                    continue  # an overloaded or dead server: its count is missed this second
                rpcs += sum(v for k, v in snap.counters.items() if k.startswith(RPC_COUNTER_PREFIX))
                if service == "query" and "visibility_lag_us" in snap.histograms:
                    hist = decode_histogram(snap.histograms["visibility_lag_us"])
                    if hist.get_total_count():
                        lag = max(lag or 0.0, hist.get_value_at_percentile(99) / 1000)
        backlog = outbox = None
        if "bus" in self.stack:
            try:
                backlog = _backlog(self.stack["bus"]["monitor"])
            except OSError:
                pass  # the bus down: no backlog to read this second
            outbox = await _outbox_rows(self.stack)
        return Sample(at, rpcs, backlog, outbox, lag)


def _backlog(monitor: str) -> int:
    """Messages not yet delivered (num_pending) or not yet acknowledged (num_ack_pending), over
    every durable consumer of the event stream."""
    with urllib.request.urlopen(f"{monitor}/jsz?consumers=true", timeout=1) as reply:
        jsz: dict[str, Any] = json.load(reply)
    total = 0
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream.get("name") != "BLOG_EVENTS":
                continue
            for consumer in stream.get("consumer_detail", []):
                total += int(consumer.get("num_pending", 0)) + int(
                    consumer.get("num_ack_pending", 0)
                )
    return total


async def _outbox_rows(stack: StackInfo) -> int | None:
    """Rows waiting in the outboxes of the services that publish (the query service has none);
    None when no database answered."""
    total, answered = 0, 0
    for service, database in stack["databases"].items():
        if not SUBSCRIPTIONS[service].publishes:
            continue
        try:
            conn = await asyncpg.connect(database["dsn"], timeout=0.5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            continue  # a database down: its outbox is missed this second
        try:
            total += int(await conn.fetchval(f"SELECT count(*) FROM {OUTBOX}", timeout=0.5))
            answered += 1
        finally:
            await conn.close()
    return total if answered else None
