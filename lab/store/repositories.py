"""Repositories: each service's persistence behind a few methods (SQL on an asyncpg connection).

Table names come from the SQLAlchemy declarations in lab.db (never from input); values are
always bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from lab import db
from lab.domain import Comment, CommentStatus, Decision, Post
from lab.events import OutgoingEvent
from lab.paging import PageRequest, encode_token

PENDING = int(CommentStatus.PENDING)


def _post(row: asyncpg.Record) -> Post:
    return Post(row["id"], row["title"], row["body"], row["created_at"])


def _comment(row: asyncpg.Record) -> Comment:
    return Comment(
        row["id"], row["post_id"], row["content"], CommentStatus(row["status"]), row["created_at"]
    )


def with_event(insert_returning: str, outbox: str, first_param: int) -> str:
    """Wrap an INSERT ... RETURNING so that, if it inserts a row, the same statement also queues
    an event (parameters first_param.. : event id, subject, data) in `outbox`.

    One statement is atomic even outside a transaction, so the entity and its event commit
    together (the transactional outbox) for the cost of a single round trip.
    """
    n = first_param
    return (
        f"WITH inserted AS ({insert_returning}), "
        f"queued AS (INSERT INTO {outbox} (event_id, subject, data) "
        f"SELECT ${n}::uuid, ${n + 1}::text, ${n + 2}::bytea FROM inserted) "
        "SELECT * FROM inserted"
    )


def _event_args(event: OutgoingEvent | None) -> tuple[object, ...]:
    return (event.event_id, event.subject, event.data) if event else ()


async def queue_event(conn: asyncpg.Connection, outbox: str, event: OutgoingEvent) -> None:
    """Add `event` to the outbox, inside the caller's transaction."""
    await conn.execute(
        f"INSERT INTO {outbox} (event_id, subject, data) VALUES ($1, $2, $3)",
        event.event_id,
        event.subject,
        event.data,
    )


class PostRepository:
    """Posts: the posts service's own table, or the async query service's copy (post_views)."""

    COLUMNS = "id, title, body, created_at"

    def __init__(self, conn: asyncpg.Connection, table: str = db.posts.name) -> None:
        self.conn = conn
        self.t = table

    async def add(
        self, post: Post, request_id: str | None = None, event: OutgoingEvent | None = None
    ) -> tuple[Post, bool]:
        """Insert `post` (and queue `event` in the outbox, atomically); with a request_id already
        used, return that post instead. Returns (post, inserted?)."""
        sql = (
            f"INSERT INTO {self.t} (id, title, body, created_at, request_id) "
            "VALUES ($1, $2, $3, $4, $5) "
            f"ON CONFLICT (request_id) DO NOTHING RETURNING {self.COLUMNS}"
        )
        if event:
            sql = with_event(sql, db.posts_outbox.name, 6)
        row = await self.conn.fetchrow(
            sql, post.id, post.title, post.body, post.created_at, request_id, *_event_args(event)
        )
        if row is not None:
            return _post(row), True
        existing = await self.conn.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE request_id = $1", request_id
        )
        return _post(existing), False

    async def put(self, post: Post) -> None:
        """Store a copy of a post (read model); a copy already there is kept."""
        await self.conn.execute(
            f"INSERT INTO {self.t} ({self.COLUMNS}) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (id) DO NOTHING",
            post.id,
            post.title,
            post.body,
            post.created_at,
        )

    async def get(self, post_id: str) -> Post | None:
        row = await self.conn.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE id = $1", post_id
        )
        return _post(row) if row else None

    async def list_page(self, page: PageRequest) -> tuple[list[Post], str]:
        """Posts newest first, and the token of the next page ('' when this is the last)."""
        order = "ORDER BY created_at DESC, id DESC LIMIT"
        if page.after:
            rows = await self.conn.fetch(
                f"SELECT {self.COLUMNS} FROM {self.t} WHERE (created_at, id) < ($1, $2) {order} $3",
                *page.after,
                page.size + 1,
            )
        else:
            rows = await self.conn.fetch(
                f"SELECT {self.COLUMNS} FROM {self.t} {order} $1", page.size + 1
            )
        items = [_post(r) for r in rows[: page.size]]
        more = len(rows) > page.size
        return items, encode_token(items[-1].created_at, items[-1].id) if more else ""


class CommentRepository:
    """Comments: the comments service's own table, or the async query service's copy."""

    COLUMNS = "id, post_id, content, status, created_at"

    def __init__(self, conn: asyncpg.Connection, table: str = db.comments.name) -> None:
        self.conn = conn
        self.t = table

    async def add(
        self,
        comment: Comment,
        request_id: str | None = None,
        event: OutgoingEvent | None = None,
        *,
        only_for_known_post: bool = False,
    ) -> tuple[Comment | None, bool]:
        """Insert `comment` (and queue `event`, atomically); with a request_id already used,
        return that comment instead. Returns (comment, inserted?).

        only_for_known_post: insert only if the post is in known_posts (async); (None, False)
        when it is not. Check and insert are one statement: one round trip, no race.
        """
        insert = f"INSERT INTO {self.t} (id, post_id, content, status, created_at, request_id) "
        if only_for_known_post:
            insert += (
                "SELECT $1::uuid, $2::uuid, $3::text, $4::smallint, $5::timestamptz, $6::uuid "
                f"WHERE EXISTS (SELECT 1 FROM {db.known_posts.name} WHERE id = $2::uuid) "
            )
        else:
            insert += "VALUES ($1, $2, $3, $4, $5, $6) "
        sql = insert + f"ON CONFLICT (request_id) DO NOTHING RETURNING {self.COLUMNS}"
        if event:
            sql = with_event(sql, db.comments_outbox.name, 7)
        c = comment
        row = await self.conn.fetchrow(
            sql,
            c.id,
            c.post_id,
            c.content,
            int(c.status),
            c.created_at,
            request_id,
            *_event_args(event),
        )
        if row is not None:
            return _comment(row), True
        if request_id is None:
            return None, False
        found = await self.conn.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE request_id = $1", request_id
        )
        return (_comment(found) if found else None), False

    async def put(self, comment: Comment) -> None:
        """Store a copy of a comment (read model). Statuses only move forward: a final status
        replaces PENDING, and nothing replaces a final status (events may come in any order)."""
        await self.conn.execute(
            f"INSERT INTO {self.t} ({self.COLUMNS}) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status "
            f"WHERE {self.t}.status = {PENDING} AND EXCLUDED.status <> {PENDING}",
            comment.id,
            comment.post_id,
            comment.content,
            int(comment.status),
            comment.created_at,
        )

    async def list_for_posts(self, post_ids: Sequence[str]) -> list[Comment]:
        """Comments of these posts, oldest first within each post."""
        if not post_ids:
            return []
        if len(post_ids) == 1:
            rows = await self.conn.fetch(
                f"SELECT {self.COLUMNS} FROM {self.t} WHERE post_id = $1 ORDER BY created_at, id",
                post_ids[0],
            )
        else:
            rows = await self.conn.fetch(
                f"SELECT {self.COLUMNS} FROM {self.t} WHERE post_id = ANY($1::uuid[]) "
                "ORDER BY post_id, created_at, id",
                list(post_ids),
            )
        return [_comment(r) for r in rows]

    async def get(self, comment_id: str) -> Comment | None:
        row = await self.conn.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE id = $1", comment_id
        )
        return _comment(row) if row else None

    async def settle(self, comment_id: str, status: CommentStatus) -> tuple[Comment | None, bool]:
        """Give a PENDING comment its final status. A status never changes once final, so a
        replayed or late decision changes nothing. Returns (comment or None, changed?)."""
        row = await self.conn.fetchrow(
            f"UPDATE {self.t} SET status = $2 WHERE id = $1 AND status = {PENDING} "
            f"RETURNING {self.COLUMNS}",
            comment_id,
            int(status),
        )
        if row is not None:
            return _comment(row), True
        return await self.get(comment_id), False


class DecisionRepository:
    """The moderation service's audit log of decisions, one per comment."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.t = db.decisions.name

    async def record(
        self, comment_id: str, post_id: str, decision: Decision, at: datetime
    ) -> Decision:
        """Record a decision; if one exists for this comment already, keep and return that one."""
        inserted = await self.conn.fetchrow(
            f"INSERT INTO {self.t} (comment_id, post_id, status, reason, decided_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (comment_id) DO NOTHING RETURNING status",
            comment_id,
            post_id,
            int(decision.status),
            decision.reason,
            at,
        )
        if inserted is not None:
            return decision
        row = await self.conn.fetchrow(
            f"SELECT status, reason FROM {self.t} WHERE comment_id = $1", comment_id
        )
        return Decision(CommentStatus(row["status"]), row["reason"])


def group_by_post(comments: Iterable[Comment]) -> dict[str, list[Comment]]:
    grouped: dict[str, list[Comment]] = {}
    for comment in comments:
        grouped.setdefault(comment.post_id, []).append(comment)
    return grouped
