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


class KnownPosts:
    """PostDirectory: the posts this service has heard of (PostCreated), in its own database.
    Every 'no' is counted in `comments_unknown_post`."""

    def __init__(self, db: Executor, metrics: Metrics | None = None) -> None:
        self.db = db
        self.metrics = metrics

    async def exists(self, post_id: str) -> bool:
        found = bool(
            await self.db.fetchval(f"SELECT true FROM {known_posts.name} WHERE id = $1", post_id)
        )
        if not found and self.metrics is not None:
            self.metrics.inc("comments_unknown_post")
        return found

    async def learn(self, post_id: str) -> None:
        await self.db.execute(
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
        self.posts = KnownPosts(database, metrics)
        self.relay = relay

    @rpc_method
    async def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Comment:
        new = NewComment.parse(request.post_id, request.content, request.request_id)
        store = OutboxCommentRepository(self.db)
        try:
            comment, _ = await features.create_comment(store, new, self.posts, LaterModeration())
        except NotFound:
            raise NotFound(
                f"post {new.post_id} not found (not known to the comments service)"
            ) from None
        self.relay.published_later(store.queued)
        return comment_to_pb(comment)


async def on_post_created(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
    payload: events_pb2.PostCreated = event.payload  # type: ignore[assignment]
    await KnownPosts(db).learn(payload.post.id)
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
