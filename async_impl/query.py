"""async query service: keeps its own read model from events and serves views from it alone.

It holds no business rule: it copies what the owners announced (PostCreated, CommentCreated,
CommentUpdated). An empty database is rebuilt by replaying the event store from the start, at
start-up or on `lab rebuild query` (QueryAdminService.Rebuild).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import grpc
from nats.js import JetStreamContext

from async_impl import bus
from async_impl.assembly import durable_consumer, open_bus, open_store
from async_impl.consumer import DurableConsumer, lag_us
from async_impl.schema import READ_MODEL, comment_views, post_views
from blog import events
from blog.convert import comment_from_pb, post_from_pb
from blog.events import IncomingEvent, OutgoingEvent
from blog.rpc import servicers
from blog.rpc.errors import rpc_method
from blog.rpc.metrics import Metrics
from blog.rpc.process import Assembly, run
from blog.rpc.server import service_name
from blog.rpc.settings import ServiceSettings
from blog.store.pool import Database, Executor
from blog.store.repositories import CommentRepository, PostRepository
from blog.store.views import PostViewRepository
from blog.v1 import events_pb2, internal_pb2, internal_pb2_grpc

log = logging.getLogger(__name__)
REBUILD_LOCK = 727275  # pg_advisory_lock key: one replica at a time decides on a rebuild


def post_copies(db: Executor) -> PostRepository:
    return PostRepository(db, post_views.name)


def comment_copies(db: Executor) -> CommentRepository:
    return CommentRepository(db, comment_views.name)


def views(db: Executor) -> PostViewRepository:
    """Each view in one statement (lab.store.views: one round trip, not two)."""
    return PostViewRepository(db, post_views.name, comment_views.name)


async def on_post_created(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
    payload: events_pb2.PostCreated = event.payload  # type: ignore[assignment]
    await post_copies(db).put(post_from_pb(payload.post))
    return ()


async def on_comment(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
    """CommentCreated (PENDING) and CommentUpdated (final) both carry the whole comment."""
    payload: events_pb2.CommentCreated = event.payload  # type: ignore[assignment]
    await comment_copies(db).put(comment_from_pb(payload.comment))
    return ()


class VisibilityLag:
    """Records, per applied event, occurred-at -> applied (docs/METHOD.md, Consistency), except
    events that are being replayed by a rebuild (their age says nothing about the live system)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.replay_before = datetime.min.replace(tzinfo=UTC)

    def __call__(self, event: IncomingEvent) -> None:
        if event.occurred_at < self.replay_before:
            self.metrics.inc("events_replayed")
            return
        lag = lag_us(event)
        self.metrics.record_us("visibility_lag_us", lag)
        self.metrics.record_us(f"visibility_lag_us.{event.event_type}", lag)
        if event.event_type == events.COMMENT_UPDATED:
            created = event.payload.comment.created_at.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined]
            self.metrics.record_us(
                "comment_status_lag_us", (datetime.now(UTC) - created).total_seconds() * 1e6
            )


class Rebuilder(internal_pb2_grpc.QueryAdminServiceServicer):
    """Drops the read model and replays the event store into it."""

    def __init__(
        self,
        database: Database,
        consumer: DurableConsumer,
        lag: VisibilityLag,
        js: JetStreamContext,
    ) -> None:
        self.db = database
        self.consumer = consumer
        self.lag = lag
        self.js = js
        self._lock = asyncio.Lock()

    async def is_empty(self) -> bool:
        exists = " OR ".join(f"EXISTS (SELECT 1 FROM {t})" for t in READ_MODEL)
        return not await self.db.fetchval(f"SELECT {exists}")

    async def rebuild(self) -> int:
        """Stop consuming, empty the read model, reset the consumer, consume again."""
        async with self._lock:
            await self.consumer.stop()
            await self.db.execute(f"TRUNCATE {', '.join(READ_MODEL)}")
            self.lag.replay_before = datetime.now(UTC)
            await self.consumer.reset()
            info = await self.js.stream_info(bus.EVENTS)
            self.consumer.start()
            log.info("rebuilding the read model: replaying up to seq %d", info.state.last_seq)
            return int(info.state.last_seq)

    async def start(self, replay_wait_s: float = 10.0) -> None:
        """Start consuming; first rebuild the read model if it is empty while the event store is
        not (a new or emptied database). Replicas start together and share the durable consumer:
        an advisory lock on the query database lets one at a time decide, and the one that
        rebuilds keeps the lock until its replay has begun, so the others find the read model
        filling and just consume (two resets at once made nats-server fail one of them)."""
        async with self.db.connect() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", REBUILD_LOCK)
            try:
                info = await self.js.stream_info(bus.EVENTS)
                if info.state.messages and await self.is_empty():
                    await self.rebuild()
                    await self._replay_begun(replay_wait_s)
                else:
                    self.consumer.start()
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", REBUILD_LOCK)

    async def _replay_begun(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while await self.is_empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    @rpc_method
    async def Rebuild(
        self, request: internal_pb2.RebuildRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.RebuildResponse:
        return internal_pb2.RebuildResponse(replay_until_seq=await self.rebuild())


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    database = await open_store(settings, assembly)
    connection = await open_bus(settings, assembly)
    lag = VisibilityLag(assembly.metrics)
    handlers = {
        events.POST_CREATED: on_post_created,
        events.COMMENT_CREATED: on_comment,
        events.COMMENT_UPDATED: on_comment,
    }
    consumer = durable_consumer(database, connection, assembly, handlers, after=lag)
    rebuilder = Rebuilder(database, consumer, lag, connection.js)
    await rebuilder.start()
    assembly.registrations += [
        servicers.query_service(servicers.QueryServicer(lambda context: views(database))),
        (
            internal_pb2_grpc.add_QueryAdminServiceServicer_to_server,
            rebuilder,
            service_name(internal_pb2, "QueryAdminService"),
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    run("async-query", "query", ["dsn", "nats_url"], assemble, argv)


if __name__ == "__main__":
    main()
