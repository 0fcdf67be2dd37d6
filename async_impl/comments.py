"""async comments service: answers CreateComment from its own database alone (PENDING), learns
posts from PostCreated and final statuses from CommentModerated, and announces CommentCreated and
CommentUpdated.

A comment on a post this service has not heard of (the post does not exist, or its PostCreated
has not arrived yet) is handled by the causality policy (setting `causality`; docs/METHOD.md,
Causality across services; the machinery is in async_impl.causality):
- refuse: NOT_FOUND at once. Accepting it would let comments on posts that never exist in; the
  price is that a comment sent right after its post may be refused for a moment.
- wait: with the consistency token CreatePost returned, wait (bounded by `causality_wait_ms` and
  the caller's deadline) until this service has applied that post, then decide; without one,
  NOT_FOUND at once.
- accept: store it PENDING and announce nothing until the post is known; REJECTED ("unknown
  post") if it is not known within `causality_accept_s`.
Every NOT_FOUND of this kind is counted in `comments_unknown_post` (MetricsService), so the
benchmark can report how often it happens.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from async_impl.arrivals import Arrivals, KnownPostArrivals
from async_impl.assembly import durable_consumer, open_bus, open_store, start_relay
from async_impl.causality import (
    HeldCommentsTable,
    HeldCommentSweeper,
    HoldingCommentRepository,
    KnownPostsListener,
    KnownPostsTable,
    learn_post,
    lock_post,
)
from async_impl.consumer import Handler
from async_impl.relay import OutboxRelay
from blog import events, features
from blog.convert import comment_to_pb
from blog.domain import (
    CausalityPolicy,
    CommentStatus,
    ConsistencyToken,
    Decision,
    NewComment,
    NotFound,
)
from blog.events import IncomingEvent, OutgoingEvent, PoisonEvent
from blog.rpc import servicers
from blog.rpc.errors import rpc_method
from blog.rpc.metrics import Metrics
from blog.rpc.process import Assembly, run
from blog.rpc.settings import ServiceSettings
from blog.store.pool import Database, Executor
from blog.store.repositories import CommentRepository
from blog.v1 import api_pb2, events_pb2

# Time kept back from the caller's deadline when waiting for a post: enough to answer NOT_FOUND
# (one insert) before the client gives up, so a wait never turns into DEADLINE_EXCEEDED.
DEADLINE_MARGIN_S = 0.05


class LaterModeration:
    """ModerationPort: no decision now; the comment waits PENDING for CommentModerated."""

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        return Decision(CommentStatus.PENDING)


class CommentServicer(servicers.CommentReads):
    def __init__(
        self,
        database: Database,
        metrics: Metrics,
        relay: OutboxRelay,
        causality: features.Causality,
        sweeper: HeldCommentSweeper | None = None,
    ) -> None:
        super().__init__(CommentRepository(database))
        self.db = database
        self.metrics = metrics
        self.relay = relay
        self.causality = causality
        self.sweeper = sweeper

    @rpc_method
    async def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Comment:
        new = NewComment.parse(request.post_id, request.content, request.request_id)
        token = ConsistencyToken.decode(request.consistency_token)
        remaining = context.time_remaining()
        time_left = None if remaining is None else remaining - DEADLINE_MARGIN_S
        # The store checks the post against known_posts in the insert itself (no `posts` port).
        store = HoldingCommentRepository(self.db, self.relay.published_later)
        try:
            comment, _, outcome = await features.create_comment_causally(
                store, new, LaterModeration(), self.causality, token, time_left
            )
        except NotFound:
            self.metrics.inc("comments_unknown_post")
            raise NotFound(
                f"post {new.post_id} not found (not known to the comments service)"
            ) from None
        if outcome.waited_s is not None:
            self.metrics.inc("comments_waited")
            self.metrics.record_us("causality_wait_us", outcome.waited_s * 1e6)
        if outcome.held:
            self.metrics.inc("comments_held")
            if self.sweeper is not None:
                self.sweeper.held.set()  # its deadline may be the earliest now
        return comment_to_pb(comment)


def on_post_created(policy: CausalityPolicy) -> Handler:
    """Learn the post; under wait, notify every replica's waiters (at commit); under accept,
    release the comments held for it. (Refuse does what it always did: one insert.)"""

    async def handle(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
        payload: events_pb2.PostCreated = event.payload  # type: ignore[assignment]
        post_id = payload.post.id
        if policy is not CausalityPolicy.ACCEPT:
            await learn_post(db, post_id, notify=policy is CausalityPolicy.WAIT)
            return ()
        await lock_post(db, post_id)  # see async_impl.causality: hold vs learn
        await learn_post(db, post_id)
        released = await features.post_became_known(HeldCommentsTable(db), post_id)
        return [events.comment_created(comment) for comment in released]

    return handle


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
    policy = settings.causality
    arrivals = Arrivals()  # this process's waiters, woken by its consumer and by NOTIFY
    causality = features.Causality(
        policy,
        wait_s=settings.causality_wait_ms / 1000,
        accept_s=settings.causality_accept_s,
        arrivals=KnownPostArrivals(KnownPostsTable(database), arrivals),
    )
    if policy is CausalityPolicy.WAIT:
        # Listening before the server serves: no waiter can miss another replica's NOTIFY.
        listener = KnownPostsListener(database.dsn, arrivals, assembly.metrics)
        await listener.start(settings.db_timeout_s)
        assembly.cleanups.append(listener.stop)
    # Always running (one query a second when idle): comments held under `accept` reach their
    # final state (REJECTED at their bound) even after a restart under another policy.
    sweeper = HeldCommentSweeper(database, relay, assembly.metrics)
    sweeper.start()
    assembly.cleanups.append(sweeper.stop)

    def applied(event: IncomingEvent) -> None:
        """After the commit: wake this replica's own waiters at once (no round trip)."""
        if event.event_type == events.POST_CREATED:
            post_id = event.payload.post.id  # type: ignore[attr-defined]
            if arrivals.arrived(post_id):
                assembly.metrics.inc("causality_wakeups_local")

    handlers = {
        events.POST_CREATED: on_post_created(policy),
        events.COMMENT_MODERATED: on_comment_moderated,
    }
    consumer = durable_consumer(database, connection, assembly, handlers, relay, after=applied)
    consumer.start()
    servicer = CommentServicer(database, assembly.metrics, relay, causality, sweeper)
    assembly.registrations.append(servicers.comment_service(servicer))


def main(argv: list[str] | None = None) -> None:
    run("async-comments", "comments", ["dsn", "nats_url"], assemble, argv)


if __name__ == "__main__":
    main()
