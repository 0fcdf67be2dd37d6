"""async comments service: answers CreateComment from its own database alone (PENDING), learns
posts from PostCreated and final statuses from CommentModerated, and announces CommentCreated and
CommentUpdated.

A comment on a post this service has not heard of is refused with NOT_FOUND, whether the post
does not exist or its PostCreated has not arrived yet: accepting it would let comments on posts
that never exist in, with no owner able to say so. The price is that a comment sent right after
its post was created may be refused for a moment; the `comments_unknown_post` counter (served by
MetricsService) counts every such refusal, so the benchmark can report how often it happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg
import grpc

from async_impl.wiring import consumer, open_bus, start_relay
from blog.v1 import api_pb2, events_pb2
from lab import comments_service, db, events, handlers
from lab.comments_service import CommentReads
from lab.config import ServiceSettings
from lab.convert import comment_to_pb
from lab.db import Database
from lab.domain import Comment, CommentStatus, NewComment, NotFound
from lab.events import IncomingEvent, OutgoingEvent, PoisonEvent
from lab.metrics import Metrics
from lab.repositories import CommentRepository
from lab.rpc import rpc_method
from lab.service import Wiring, open_database, run


class CommentServicer(CommentReads):
    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        on_commit: Callable[[list[OutgoingEvent]], None],
    ) -> None:
        super().__init__(db)
        self.metrics = metrics
        self.on_commit = on_commit

    @rpc_method
    async def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Comment:
        new = NewComment.parse(request.post_id, request.content, request.request_id)
        comment = Comment(
            handlers.new_id(), new.post_id, new.content, CommentStatus.PENDING, handlers.now()
        )
        event = events.comment_created(comment)
        async with self.db.connect() as conn:
            stored, inserted = await CommentRepository(conn).add(
                comment, new.request_id, event, only_for_known_post=True
            )
        if stored is None:
            self.metrics.inc("comments_unknown_post")
            raise NotFound(f"post {new.post_id} not found (not known to the comments service)")
        if inserted:
            self.on_commit([event])
        return comment_to_pb(stored)


async def on_post_created(
    conn: asyncpg.Connection, event: IncomingEvent
) -> Sequence[OutgoingEvent]:
    payload: events_pb2.PostCreated = event.payload  # type: ignore[assignment]
    await conn.execute(
        f"INSERT INTO {db.known_posts.name} (id) VALUES ($1) ON CONFLICT DO NOTHING",
        payload.post.id,
    )
    return ()


async def on_comment_moderated(
    conn: asyncpg.Connection, event: IncomingEvent
) -> Sequence[OutgoingEvent]:
    payload: events_pb2.CommentModerated = event.payload  # type: ignore[assignment]
    status = events.final_status(payload.status)
    comment, changed = await CommentRepository(conn).settle(payload.comment_id, status)
    if comment is None:
        raise PoisonEvent(f"moderation of unknown comment {payload.comment_id}")
    return [events.comment_updated(comment)] if changed else ()


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    database = await open_database("comments", settings, wiring, events=True)
    conn = await open_bus("comments", settings, wiring)
    relay = start_relay("comments", database, conn, wiring)
    handlers = {
        events.POST_CREATED: on_post_created,
        events.COMMENT_MODERATED: on_comment_moderated,
    }
    consumer("comments", database, conn, wiring, handlers, relay).start()
    servicer = CommentServicer(database, wiring.metrics, relay.published_later)
    wiring.registrations.append(comments_service.registration(servicer))


def main(argv: list[str] | None = None) -> None:
    run("async-comments", "comments", ["dsn", "nats_url"], build, argv)


if __name__ == "__main__":
    main()
