"""The outbox relay: publishes committed events to JetStream, then deletes them from the outbox.

Two paths, one guarantee. The fast path publishes an event the moment the transaction that wrote it
has committed (the writer hands it over in memory), so visibility does not wait for a poll or pay a
SELECT. The sweep path polls the outbox table and publishes whatever is still there after a grace
period: rows whose fast path failed (bus down), rows of a replica that died, rows from before a
restart. Either way the row is deleted only after JetStream acknowledged the event, so nothing
committed is ever lost. A row the sweep finds although the bus was up when it was written, in this
process's life, is counted apart (`events_swept_bus_up`): with every writer handing its events over
as it commits (async_impl.outbox), it should stay 0, and a defect can no longer hide in the tail of
a lag histogram. Publishing sets Nats-Msg-Id to the event id: when both paths (or two replicas)
publish the same event, JetStream drops the copy, and consumers de-duplicate by event id beyond
that window. Sweeps claim rows with FOR UPDATE SKIP LOCKED, so replicas share the work.

A traced request's event carries its traceparent (stored with the row, handed over with the
event): its publish continues that trace, with the wait in the outbox before it, and the
message carries the trace on to the consumers (blog.tracing.messages).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from nats.js import JetStreamContext

from async_impl.schema import OUTBOX
from blog.events import OutgoingEvent
from blog.rpc.metrics import Metrics
from blog.store.pool import Database
from blog.tracing.messages import publishing

log = logging.getLogger(__name__)


class Pending(NamedTuple):
    """An event to publish, with what its trace needs: the traced request's traceparent, when
    the event was queued (ns since the epoch) and by which path it goes."""

    event_id: str
    subject: str
    data: bytes
    traceparent: str | None = None
    queued_ns: int = 0
    path: str = "fast"


class OutboxRelay:
    """Publishes one service's outbox (see the module docstring for the two paths)."""

    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        metrics: Metrics,
        *,
        batch: int = 256,
        sweep_interval_s: float = 0.5,
        sweep_grace_s: float = 1.0,
        publish_timeout_s: float = 2.0,
        max_queued: int = 10_000,
    ) -> None:
        self.db = db
        self.js = js
        self.metrics = metrics
        self.batch = batch
        self.sweep_interval_s = sweep_interval_s
        self.sweep_grace_s = sweep_grace_s
        self.publish_timeout_s = publish_timeout_s
        self._queue: asyncio.Queue[Pending] = asyncio.Queue(max_queued)
        self._bus_ok = True  # cleared when a publish fails; the sweep finds out when it is back
        # Rows written after this moment (this relay's start, or the bus's return after an
        # outage) had a bus to go to: the fast path should have taken them.
        self._bus_up_since = datetime.now(UTC)
        self._tasks: list[asyncio.Task[None]] = []

    def published_later(self, events: Iterable[OutgoingEvent]) -> None:
        """Hand over events whose transaction has committed (the fast path)."""
        if not self._bus_ok:
            return  # the sweep publishes them once the bus answers again
        now = time.time_ns()
        for e in events:
            try:
                self._queue.put_nowait(Pending(e.event_id, e.subject, e.data, e.traceparent, now))
            except asyncio.QueueFull:
                self.metrics.inc("outbox_fast_path_full")
                return

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._fast_path(), name="outbox-fast-path"),
            asyncio.create_task(self._sweep_loop(), name="outbox-sweep"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def backlog(self) -> dict[str, float]:
        """The outbox now: rows not yet acknowledged by the bus and the oldest one's age (a
        gauge probe: read only when a metrics view asks, blog.rpc.metrics.Probe)."""
        row = await self.db.fetchrow(
            f"SELECT count(*) AS rows, now() - min(created_at) AS oldest FROM {OUTBOX}"
        )
        oldest = row["oldest"].total_seconds() if row["oldest"] is not None else 0.0
        return {"outbox_rows": float(row["rows"]), "outbox_oldest_age_seconds": max(0.0, oldest)}

    async def _publish(self, events: list[Pending]) -> None:
        # Concurrently: consumers do not depend on the order of events.
        await asyncio.gather(*(self._publish_one(event) for event in events))

    async def _publish_one(self, e: Pending) -> None:
        with publishing(e.subject, e.event_id, e.traceparent, e.queued_ns, e.path) as trace:
            headers = {"Nats-Msg-Id": e.event_id, **trace}
            await self.js.publish(
                e.subject, e.data, timeout=self.publish_timeout_s, headers=headers
            )

    async def _fast_path(self) -> None:
        while True:
            first = await self._queue.get()
            pending = [first]
            while not self._queue.empty() and len(pending) < self.batch:
                pending.append(self._queue.get_nowait())
            try:
                await self._publish(pending)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._bus_ok = False  # leave the rows to the sweep
                self.metrics.inc("outbox_publish_failures")
                log.warning("outbox fast path: %s: %s", type(error).__name__, error)
                continue
            self.metrics.inc("events_published", len(pending))
            try:
                async with self.db.connect() as conn:
                    await conn.execute(
                        f"DELETE FROM {OUTBOX} WHERE event_id = ANY($1::uuid[])",
                        [e.event_id for e in pending],
                    )
            except Exception as error:  # the sweep will re-publish them: de-duplicated
                self.metrics.inc("outbox_delete_failures")
                log.warning("outbox fast path: delete failed: %s", error)

    async def _sweep_loop(self) -> None:
        backoff = self.sweep_interval_s
        while True:
            try:
                swept = await self.sweep()
                if not self._bus_ok:
                    self._bus_ok = True
                    self._bus_up_since = datetime.now(UTC)
                backoff = self.sweep_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as error:  # bus or database down: keep the rows, try again later
                self.metrics.inc("outbox_publish_failures")
                log.warning("outbox sweep: %s: %s", type(error).__name__, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if swept < self.batch:
                await asyncio.sleep(self.sweep_interval_s)

    async def sweep(self, grace_s: float | None = None) -> int:
        """Publish up to `batch` rows older than the grace period, in one transaction."""
        grace = self.sweep_grace_s if grace_s is None else grace_s
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                f"SELECT id, event_id, subject, data, created_at, traceparent FROM {OUTBOX} "
                "WHERE created_at < now() - $1::interval ORDER BY id LIMIT $2 "
                "FOR UPDATE SKIP LOCKED",
                timedelta(seconds=grace),
                self.batch,
            )
            if not rows:
                return 0
            await self._publish([swept(row) for row in rows])
            await conn.execute(
                f"DELETE FROM {OUTBOX} WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        now = datetime.now(UTC)
        missed = 0
        for row in rows:
            self.metrics.record_us(
                "outbox_sweep_delay_us", (now - row["created_at"]).total_seconds() * 1e6
            )
            missed += self._bus_ok and row["created_at"] > self._bus_up_since
        self.metrics.inc("events_swept", len(rows))
        if missed:
            self.metrics.inc("events_swept_bus_up", missed)
            log.warning("outbox sweep: %d event(s) missed the fast path with the bus up", missed)
        return len(rows)


def swept(row: Any) -> Pending:
    """An outbox row as an event to publish (queued when its row was written)."""
    queued_ns = int(row["created_at"].timestamp() * 1e9)
    return Pending(
        row["event_id"], row["subject"], row["data"], row["traceparent"], queued_ns, "sweep"
    )
