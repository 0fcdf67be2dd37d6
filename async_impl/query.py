"""async query service: keeps its own read model from events and serves views from it alone.

It holds no business rule: it copies what the owners announced (PostCreated, CommentCreated,
CommentUpdated). An empty database is rebuilt by replaying the event store from the start, at
start-up or on `lab rebuild query` (QueryAdminService.Rebuild).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import grpc

from async_impl import bus
from async_impl.consumer import DurableConsumer, lag_us
from async_impl.wiring import consumer, open_bus
from blog.v1 import api_pb2, api_pb2_grpc, events_pb2, internal_pb2, internal_pb2_grpc
from lab import db, events, handlers
from lab.config import ServiceSettings
from lab.convert import comment_from_pb, post_from_pb, view_to_pb
from lab.db import Database
from lab.events import IncomingEvent, OutgoingEvent
from lab.metrics import Metrics
from lab.paging import PageRequest
from lab.repositories import CommentRepository, PostRepository
from lab.rpc import rpc_method, service_name
from lab.service import Wiring, open_database, run

log = logging.getLogger(__name__)
READ_MODEL = (db.post_views.name, db.comment_views.name, db.query_processed.name)


async def on_post_created(
    conn: asyncpg.Connection, event: IncomingEvent
) -> Sequence[OutgoingEvent]:
    payload: events_pb2.PostCreated = event.payload  # type: ignore[assignment]
    await PostRepository(conn, db.post_views.name).put(post_from_pb(payload.post))
    return ()


async def on_comment(conn: asyncpg.Connection, event: IncomingEvent) -> Sequence[OutgoingEvent]:
    """CommentCreated (PENDING) and CommentUpdated (final) both carry the whole comment."""
    payload: events_pb2.CommentCreated = event.payload  # type: ignore[assignment]
    await CommentRepository(conn, db.comment_views.name).put(comment_from_pb(payload.comment))
    return ()


class VisibilityLag:
    """Records, per applied event, occurred-at -> applied (LAB.md section 3), except events that
    are being replayed by a rebuild (their age says nothing about the live system)."""

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


class QueryServicer(api_pb2_grpc.QueryServiceServicer):
    def __init__(self, database: Database) -> None:
        self.db = database

    @rpc_method
    async def GetPostView(
        self, request: api_pb2.GetPostViewRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.PostView:
        post, comments = await handlers.get_post_view(
            self.db, request.post_id, db.post_views.name, db.comment_views.name
        )
        return view_to_pb(post, comments)

    @rpc_method
    async def ListPostViews(
        self, request: api_pb2.ListPostViewsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListPostViewsResponse:
        page = PageRequest.parse(request.page_size, request.page_token)
        views, token = await handlers.list_post_views(
            self.db, page, db.post_views.name, db.comment_views.name
        )
        return api_pb2.ListPostViewsResponse(
            views=[view_to_pb(p, c) for p, c in views], next_page_token=token
        )


class Rebuilder(internal_pb2_grpc.QueryAdminServiceServicer):
    """Drops the read model and replays the event store into it."""

    def __init__(
        self, database: Database, consumer: DurableConsumer, lag: VisibilityLag, js
    ) -> None:
        self.db = database
        self.consumer = consumer
        self.lag = lag
        self.js = js
        self._lock = asyncio.Lock()

    async def is_empty(self) -> bool:
        exists = " OR ".join(f"EXISTS (SELECT 1 FROM {t})" for t in READ_MODEL)
        async with self.db.connect() as conn:
            return not await conn.fetchval(f"SELECT {exists}")

    async def rebuild(self) -> int:
        """Stop consuming, empty the read model, reset the consumer, consume again."""
        async with self._lock:
            await self.consumer.stop()
            async with self.db.connect() as conn:
                await conn.execute(f"TRUNCATE {', '.join(READ_MODEL)}")
            self.lag.replay_before = datetime.now(UTC)
            await self.consumer.reset()
            info = await self.js.stream_info(bus.EVENTS)
            self.consumer.start()
            log.info("rebuilding the read model: replaying up to seq %d", info.state.last_seq)
            return int(info.state.last_seq)

    @rpc_method
    async def Rebuild(
        self, request: internal_pb2.RebuildRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.RebuildResponse:
        return internal_pb2.RebuildResponse(replay_until_seq=await self.rebuild())


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    database = await open_database("query", settings, wiring, events=True)
    conn = await open_bus("query", settings, wiring)
    lag = VisibilityLag(wiring.metrics)
    handlers = {
        events.POST_CREATED: on_post_created,
        events.COMMENT_CREATED: on_comment,
        events.COMMENT_UPDATED: on_comment,
    }
    durable = consumer("query", database, conn, wiring, handlers, after=lag)
    rebuilder = Rebuilder(database, durable, lag, conn.js)
    if await rebuilder.is_empty():
        await rebuilder.rebuild()  # a new or emptied database: replay the event store
    else:
        durable.start()
    wiring.registrations += [
        (
            api_pb2_grpc.add_QueryServiceServicer_to_server,
            QueryServicer(database),
            service_name(api_pb2, "QueryService"),
        ),
        (
            internal_pb2_grpc.add_QueryAdminServiceServicer_to_server,
            rebuilder,
            service_name(internal_pb2, "QueryAdminService"),
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    run("async-query", "query", ["dsn", "nats_url"], build, argv)


if __name__ == "__main__":
    main()
