"""The async comments service's answers to a comment on a post it has not heard of yet
(docs/METHOD.md, Causality across services): the adapters behind lab.features' `wait` and
`accept` rules.

wait — who wakes a waiting CreateComment. Replicas of the comments service share one durable
consumer, so the replica that answers the RPC is often not the one that applies the post's
PostCreated. Two notifications, neither a poll:
- the replica that applies it wakes its own waiters after the commit (the consumer's `after`
  hook: no round trip);
- the same transaction that records the post in `known_posts` also issues
  `NOTIFY known_posts, '<post id>'`, which PostgreSQL delivers at commit to every session that
  LISTENs: each replica keeps one such connection (KnownPostsListener) and wakes its waiters.
A woken waiter checks `known_posts` itself before it decides (the table is the truth, a
notification only a hint), and checks once more when its bound ends; after the listening
connection is re-established (its database restarted) every waiter checks again, since a
notification may have been missed in between.

accept — a comment on an unknown post is stored PENDING with no event, and a row in
`held_comments` says until when it waits. Holding (the RPC) and learning the post (the consumer)
take the same transaction-scoped advisory lock on the post id, so either the RPC sees the post
known (and announces the comment at once) or the consumer sees the held row (and releases it in
its transaction, queueing CommentCreated): a comment is never held for a post already known.
HeldCommentSweeper rejects what is held past its bound ("unknown post"), announcing
CommentUpdated, so the read model and any client see the final state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg

from async_impl.arrivals import Arrivals
from async_impl.outbox import HandOver, OutboxCommentRepository, queue_event
from async_impl.relay import OutboxRelay
from async_impl.schema import OUTBOX, held_comments, known_posts
from blog import events, features
from blog.domain import UNKNOWN_POST_REASON, Comment, CommentStatus, Unavailable
from blog.events import OutgoingEvent
from blog.rpc.metrics import Metrics
from blog.store.pool import Database, Executor
from blog.store.repositories import PENDING, CommentRepository, comment_from_row

log = logging.getLogger(__name__)

CHANNEL = "known_posts"  # NOTIFY channel: payload = the post id just recorded as known
POST_LOCK = 727276  # pg_advisory_xact_lock(POST_LOCK, hashtext(post id)): hold vs learn
SWEEP_IDLE_S = 1.0  # with nothing held here, look for other replicas' holds this often
LISTEN_RETRY_S = 0.5


async def lock_post(db: Executor, post_id: str) -> None:
    """Serialise holding a comment on `post_id` with learning `post_id` (until commit)."""
    await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2::text))", POST_LOCK, post_id)


async def learn_post(db: Executor, post_id: str, *, notify: bool = False) -> None:
    """Remember that a post exists (from its PostCreated); with `notify`, tell every listening
    replica at commit (only when it is new to us)."""
    insert = f"INSERT INTO {known_posts.name} (id) VALUES ($1) ON CONFLICT DO NOTHING"
    if notify:
        await db.execute(
            f"WITH learnt AS ({insert} RETURNING id) "
            f"SELECT pg_notify('{CHANNEL}', id::text) FROM learnt",
            post_id,
        )
    else:
        await db.execute(insert, post_id)


class KnownPostsTable:
    """KnownPosts on the service's own copy of known post ids."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def knows(self, post_id: str) -> bool:
        return bool(
            await self.db.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {known_posts.name} WHERE id = $1)", post_id
            )
        )


class HoldingCommentRepository(OutboxCommentRepository):
    """HoldingCommentStore: the outbox comment store, plus holding a comment on a post not known
    yet (see the module docstring). Needs the Database: holding is a transaction."""

    COLS = CommentRepository.COLUMNS

    def __init__(self, database: Database, hand_over: HandOver) -> None:
        super().__init__(database, hand_over)
        self.database = database

    async def add_or_hold(
        self, comment: Comment, request_id: str | None, until: datetime
    ) -> tuple[Comment, bool]:
        return await self._own_unit_of_work(self._add_or_hold(comment, request_id, until))

    async def _add_or_hold(
        self, comment: Comment, request_id: str | None, until: datetime
    ) -> tuple[Comment, bool]:
        c = comment
        event = self.announce(c)
        t = self.t
        sql = (
            f"WITH known AS (SELECT EXISTS (SELECT 1 FROM {known_posts.name} "
            "WHERE id = $2::uuid) AS yes), "
            f"inserted AS (INSERT INTO {t} (id, post_id, content, status, created_at, request_id) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING "
            f"RETURNING {self.COLS}), "
            f"queued AS (INSERT INTO {OUTBOX} (event_id, subject, data, traceparent) "
            "SELECT $8::uuid, $9::text, $10::bytea, $11::text FROM inserted, known "
            "WHERE known.yes), "
            f"held AS (INSERT INTO {held_comments.name} (comment_id, post_id, until) "
            "SELECT inserted.id, inserted.post_id, $7 FROM inserted, known WHERE NOT known.yes) "
            "SELECT inserted.*, known.yes AS known FROM inserted, known"
        )
        async with self.database.transaction() as conn:
            await lock_post(conn, c.post_id)  # the statement below sees the post's learning
            row = await conn.fetchrow(
                sql,
                *(c.id, c.post_id, c.content, int(c.status), c.created_at, request_id, until),
                *(event.event_id, event.subject, event.data, event.traceparent),
            )
            if row is None:  # request_id used before: that comment, as it is now
                found = await conn.fetchrow(
                    f"SELECT {self.COLS} FROM {t} WHERE request_id = $1", request_id
                )
                return comment_from_row(found), False
        if row["known"]:
            self.queued.append(event)  # learnt meanwhile: announced as usual
        return comment_from_row(row), True


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for column in CommentRepository.COLUMNS.split(", "))


class HeldCommentsTable:
    """HeldComments on the comments service's own tables (run inside the caller's transaction)."""

    def __init__(self, db: Executor) -> None:
        self.db = db
        self.comments = CommentRepository(db)

    async def release(self, post_id: str) -> list[Comment]:
        rows = await self.db.fetch(
            f"WITH released AS (DELETE FROM {held_comments.name} WHERE post_id = $1 "
            "RETURNING comment_id) "
            f"SELECT {_qualified('c')} "
            f"FROM {self.comments.t} c JOIN released r ON c.id = r.comment_id",
            post_id,
        )
        return [comment_from_row(r) for r in rows]

    async def expire(self, at: datetime, status: CommentStatus, limit: int = 256) -> list[Comment]:
        # SKIP LOCKED: replicas share the work, and a row the consumer is releasing right now
        # is left to it.
        rows = await self.db.fetch(
            f"WITH expired AS (DELETE FROM {held_comments.name} WHERE comment_id IN ("
            f"SELECT comment_id FROM {held_comments.name} WHERE until <= $1 ORDER BY until "
            f"LIMIT {int(limit)} FOR UPDATE SKIP LOCKED) RETURNING comment_id) "
            f"UPDATE {self.comments.t} c SET status = $2 FROM expired e "
            f"WHERE c.id = e.comment_id AND c.status = {PENDING} "
            f"RETURNING {_qualified('c')}",
            at,
            int(status),
        )
        return [comment_from_row(r) for r in rows]

    async def next_expiry(self) -> datetime | None:
        value = await self.db.fetchval(f"SELECT min(until) FROM {held_comments.name}")
        return value if isinstance(value, datetime) else None


class HeldCommentSweeper:
    """Rejects comments held past their bound, at their deadline: it sleeps until the earliest
    `until` (or SWEEP_IDLE_S, for other replicas' holds), and is woken by a new local hold."""

    def __init__(self, database: Database, relay: OutboxRelay, metrics: Metrics) -> None:
        self.db = database
        self.relay = relay
        self.metrics = metrics
        self.held = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="held-comment-sweeper")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep(self) -> list[Comment]:
        """Reject every comment held past its bound now; announce each (CommentUpdated)."""
        async with self.db.transaction() as conn:
            rejected = await features.reject_expired_comments(
                HeldCommentsTable(conn), datetime.now(UTC)
            )
            caused: list[OutgoingEvent] = []
            for comment in rejected:
                caused.append(events.comment_updated(comment, UNKNOWN_POST_REASON))
                await queue_event(conn, caused[-1])
        if caused:
            self.relay.published_later(caused)
            self.metrics.inc("comments_rejected_unknown_post", len(caused))
        return rejected

    async def _run(self) -> None:
        while True:
            self.held.clear()
            delay = SWEEP_IDLE_S
            try:
                await self.sweep()
                due = await HeldCommentsTable(self.db).next_expiry()
                if due is not None:
                    delay = min(delay, max(0.0, (due - datetime.now(UTC)).total_seconds()))
            except Unavailable as error:  # our database is down: try again later
                log.debug("held-comment sweep: %s", error)
            except Exception:
                log.exception("held-comment sweep failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.held.wait()


class KnownPostsListener:
    """LISTENs for NOTIFY known_posts on a connection of its own and wakes this process's
    waiters; reconnects when the connection drops, then wakes every waiter to check again."""

    def __init__(self, dsn: str, arrivals: Arrivals, metrics: Metrics) -> None:
        self.dsn = dsn
        self.arrivals = arrivals
        self.metrics = metrics
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 5.0) -> None:
        """Listen before the first RPC can wait (so none misses a notification), then keep
        listening in the background."""
        await asyncio.wait_for(self._connect(), timeout_s)
        self._task = asyncio.create_task(self._supervise(), name="known-posts-listener")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 2.0)

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.dsn, timeout=2.0)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self.arrivals.arrived(payload):
            self.metrics.inc("causality_wakeups_notify")

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("known-posts listener: connection lost; reconnecting")
            while True:
                try:
                    await self._connect()
                    break
                except Exception as error:  # database still down
                    log.debug("known-posts listener: %s", error)
                    await asyncio.sleep(LISTEN_RETRY_S)
            self.arrivals.wake_all()  # a notification may have been missed meanwhile
