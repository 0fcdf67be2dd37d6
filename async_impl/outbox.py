"""The transactional outbox, write side: an entity and the event announcing it are written by
one statement, so they commit together (the relay, async_impl.relay, publishes the event)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from async_impl.schema import OUTBOX, known_posts
from blog import events
from blog.domain import Comment, Post
from blog.events import OutgoingEvent
from blog.store.pool import Executor
from blog.store.repositories import CommentRepository, PostRepository


def with_event(insert_returning: str, first_param: int) -> str:
    """Wrap an INSERT ... RETURNING so that, if it inserts a row, the same statement also queues
    an event (parameters first_param.. : event id, subject, data, traceparent) in the outbox.

    One statement is atomic even outside a transaction, so the entity and its event commit
    together (the transactional outbox) for the cost of a single round trip.
    """
    n = first_param
    return (
        f"WITH inserted AS ({insert_returning}), "
        f"queued AS (INSERT INTO {OUTBOX} (event_id, subject, data, traceparent) "
        f"SELECT ${n}::uuid, ${n + 1}::text, ${n + 2}::bytea, ${n + 3}::text FROM inserted) "
        "SELECT * FROM inserted"
    )


async def queue_event(db: Executor, event: OutgoingEvent) -> None:
    """Add `event` to the outbox (inside the caller's transaction)."""
    await db.execute(
        f"INSERT INTO {OUTBOX} (event_id, subject, data, traceparent) VALUES ($1, $2, $3, $4)",
        event.event_id,
        event.subject,
        event.data,
        event.traceparent,
    )


HandOver = Callable[[Sequence[OutgoingEvent]], None]  # the relay's fast path (published_later)
R = TypeVar("R")


class _Announcing:
    """Mixin for a repository whose inserts also queue the event `announce` makes of the entity,
    in the same statement, and that is its own unit of work: each insert (one statement, or one
    transaction) runs to its end and its events go to `hand_over` the moment it has committed.

    Why the repository hands them over, not its caller: once sent, a statement may commit
    whatever the caller does next, and a caller can be cancelled at any await (a client that
    gives up cancels its RPC's task). An event handed over by a cancelled caller never reached
    the relay's fast path and waited for its sweep, a second later (docs/METHOD.md, The outbox:
    events that miss the fast path). So the insert runs shielded from the caller's
    cancellation, and its events are handed over when it completes, whoever still waits."""

    queued: list[OutgoingEvent]  # committed, not handed over yet
    hand_over: HandOver
    _pending: OutgoingEvent | None = None

    async def _own_unit_of_work(self, work: Awaitable[R]) -> R:
        """Await `work` (an insert of this repository) shielded from the caller's cancellation;
        hand over what it queued once it is done."""
        task = asyncio.ensure_future(work)
        task.add_done_callback(self._hand_over_queued)
        return await asyncio.shield(task)

    def _hand_over_queued(self, _: asyncio.Future[Any]) -> None:
        # Only committed inserts queue an event, so whatever is queued is safe to publish, even
        # when the work failed afterwards.
        queued, self.queued = self.queued, []
        if queued:
            self.hand_over(queued)

    def announce(self, entity: Any) -> OutgoingEvent:
        raise NotImplementedError

    def _statement(self, insert_returning: str, next_param: int, entity: Any) -> tuple[str, tuple]:
        self._pending = event = self.announce(entity)
        extra = (event.event_id, event.subject, event.data, event.traceparent)
        return with_event(insert_returning, next_param), extra

    def _keep(self, inserted: bool) -> None:
        if inserted and self._pending is not None:
            self.queued.append(self._pending)
        self._pending = None


class OutboxPostRepository(_Announcing, PostRepository):
    """Posts whose insert also queues PostCreated (on the Database: each insert autocommits)."""

    def __init__(self, db: Executor, hand_over: HandOver) -> None:
        super().__init__(db)
        self.queued = []
        self.hand_over = hand_over

    def announce(self, entity: Post) -> OutgoingEvent:
        return events.post_created(entity)

    async def add(self, post: Post, request_id: str | None = None) -> tuple[Post, bool]:
        return await self._own_unit_of_work(self._add(post, request_id))

    async def _add(self, post: Post, request_id: str | None) -> tuple[Post, bool]:
        stored, inserted = await super().add(post, request_id)
        self._keep(inserted)
        return stored, inserted


class OutboxCommentRepository(_Announcing, CommentRepository):
    """Comments whose insert also queues CommentCreated, and happens only on a post this
    service knows (known_posts, learnt from PostCreated): checked in the same statement, so a
    comment on an unknown post is refused with one round trip and no race."""

    ROW = (
        "SELECT $1::uuid, $2::uuid, $3::text, $4::smallint, $5::timestamptz, $6::uuid "
        f"WHERE EXISTS (SELECT 1 FROM {known_posts.name} WHERE id = $2::uuid)"
    )

    def __init__(self, db: Executor, hand_over: HandOver) -> None:
        super().__init__(db)
        self.queued = []
        self.hand_over = hand_over

    def announce(self, entity: Comment) -> OutgoingEvent:
        return events.comment_created(entity)

    async def add(
        self, comment: Comment, request_id: str | None = None
    ) -> tuple[Comment | None, bool]:
        return await self._own_unit_of_work(self._add(comment, request_id))

    async def _add(self, comment: Comment, request_id: str | None) -> tuple[Comment | None, bool]:
        stored, inserted = await super().add(comment, request_id)
        self._keep(inserted)
        return stored, inserted
