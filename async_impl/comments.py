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

from collections.abc import Sequence

import grpc

from async_impl.assembly import durable_consumer, open_bus, open_store, start_relay
from async_impl.outbox import OutboxCommentRepository
from async_impl.relay import OutboxRelay
from async_impl.schema import known_posts
from blog.v1 import api_pb2, events_pb2
from lab import events, features
from lab.convert import comment_to_pb
from lab.domain import CommentStatus, Decision, NewComment, NotFound
from lab.events import IncomingEvent, OutgoingEvent, PoisonEvent
from lab.rpc import servicers
from lab.rpc.errors import rpc_method
from lab.rpc.metrics import Metrics
from lab.rpc.process import Assembly, run
from lab.rpc.settings import ServiceSettings
from lab.store.pool import Database, Executor
from lab.store.repositories import CommentRepository


async def learn_post(db: Executor, post_id: str) -> None:
    """Remember that a post exists (from its PostCreated)."""
    await db.execute(
        f"INSERT INTO {known_posts.name} (id) VALUES ($1) ON CONFLICT DO NOTHING", post_id
    )


class LaterModeration:
    """ModerationPort: no decision now; the comment waits PENDING for CommentModerated."""

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        return Decision(CommentStatus.PENDING)


class CommentServicer(servicers.CommentReads):
    def __init__(self, database: Database, metrics: Metrics, relay: OutboxRelay) -> None:
        super().__init__(CommentRepository(database))
        self.db = database
        self.metrics = metrics
        self.relay = relay

    @rpc_method
    async def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Comment:
        new = NewComment.parse(request.post_id, request.content, request.request_id)
        # The store checks the post against known_posts in the insert itself (no `posts` port).
        store = OutboxCommentRepository(self.db)
        try:
            comment, _ = await features.create_comment(store, new, LaterModeration())
        except NotFound:
            self.metrics.inc("comments_unknown_post")
            raise NotFound(
                f"post {new.post_id} not found (not known to the comments service)"
            ) from None
        self.relay.published_later(store.queued)
        return comment_to_pb(comment)


async def on_post_created(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
    payload: events_pb2.PostCreated = event.payload  # type: ignore[assignment]
    await learn_post(db, payload.post.id)
    return ()


async def on_comment_moderated(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
    payload: events_pb2.CommentModerated = event.payload  # type: ignore[assignment]
    status = events.final_status(payload.status)
    comment, changed = await features.settle_comment(
        CommentRepository(db), payload.comment_id, status
    )
    if comment is None:
        raise PoisonEvent(f"moderation of unknown comment {payload.comment_id}")
    return [events.comment_updated(comment)] if changed else ()


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    database = await open_store(settings, assembly)
    connection = await open_bus(settings, assembly)
    relay = start_relay(database, connection, assembly)
    handlers = {
        events.POST_CREATED: on_post_created,
        events.COMMENT_MODERATED: on_comment_moderated,
    }
    durable_consumer(database, connection, assembly, handlers, relay).start()
    servicer = CommentServicer(database, assembly.metrics, relay)
    assembly.registrations.append(servicers.comment_service(servicer))


def main(argv: list[str] | None = None) -> None:
    run("async-comments", "comments", ["dsn", "nats_url"], assemble, argv)


if __name__ == "__main__":
    main()
