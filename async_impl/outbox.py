"""The outbox relay: publishes committed events to JetStream, then deletes them from the outbox.

Every replica runs one. Rows are claimed with FOR UPDATE SKIP LOCKED, so replicas share the work
and never publish the same row at once. Publishing sets Nats-Msg-Id to the event id: if the
relay dies between the stream's ack and the delete, the re-publish is dropped by JetStream's
de-duplication (and consumers de-duplicate by event id beyond that window).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from nats.js import JetStreamContext

from lab.db import Database
from lab.domain import Unavailable
from lab.metrics import Metrics

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publish the outbox of one service's database; woken by notify() after each local commit,
    and by a periodic poll (for rows left by another replica or before a restart)."""

    def __init__(
        self,
        db: Database,
        outbox: sa.Table,
        js: JetStreamContext,
        metrics: Metrics,
        *,
        batch: int = 256,
        poll_interval_s: float = 0.25,
        publish_timeout_s: float = 2.0,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.js = js
        self.metrics = metrics
        self.batch = batch
        self.poll_interval_s = poll_interval_s
        self.publish_timeout_s = publish_timeout_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                published = await self.publish_batch()
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as error:  # bus or database down: keep the rows, try again later
                self.metrics.inc("outbox_publish_failures")
                log.warning("outbox relay: %s; retrying in %.2fs", _describe(error), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if published == self.batch:
                continue  # more waiting: no pause
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish up to `batch` rows in one transaction; returns how many were published."""
        o = self.outbox.c
        async with self.db.transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(o.id, o.event_id, o.subject, o.data, o.created_at)
                    .order_by(o.id)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # Publish concurrently: consumers do not depend on the order of events.
            await asyncio.gather(
                *(
                    self.js.publish(
                        row.subject,
                        row.data,
                        timeout=self.publish_timeout_s,
                        headers={"Nats-Msg-Id": row.event_id},
                    )
                    for row in rows
                )
            )
            await conn.execute(sa.delete(self.outbox).where(o.id.in_([r.id for r in rows])))
        now = datetime.now(UTC)
        for row in rows:
            self.metrics.record_us("outbox_delay_us", (now - row.created_at).total_seconds() * 1e6)
        self.metrics.inc("events_published", len(rows))
        return len(rows)

    async def backlog(self) -> int:
        async with self.db.connect() as conn:
            return int(
                (
                    await conn.execute(sa.select(sa.func.count()).select_from(self.outbox))
                ).scalar_one()
            )


def _describe(error: BaseException) -> str:
    if isinstance(error, Unavailable):
        return str(error)
    return f"{type(error).__name__}: {error}"
