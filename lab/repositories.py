"""Repositories: each service's persistence behind a few methods (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lab import db
from lab.domain import Comment, CommentStatus, Decision, Post
from lab.events import OutgoingEvent
from lab.paging import PageRequest, encode_token

ReturningInsert = Any  # an INSERT ... RETURNING statement (SQLAlchemy types it loosely)


def _post(row: sa.Row) -> Post:
    return Post(row.id, row.title, row.body, row.created_at)


def _comment(row: sa.Row) -> Comment:
    return Comment(row.id, row.post_id, row.content, CommentStatus(row.status), row.created_at)


class PostRepository:
    """Posts: the posts service's own table, or the async query service's copy (post_views)."""

    def __init__(self, conn: AsyncConnection, table: sa.Table = db.posts) -> None:
        self.conn = conn
        self.t = table
        self.cols = (table.c.id, table.c.title, table.c.body, table.c.created_at)

    async def add(
        self, post: Post, request_id: str | None = None, event: OutgoingEvent | None = None
    ) -> tuple[Post, bool]:
        """Insert `post` (and queue `event` in the outbox, atomically); with a request_id already
        used, return that post instead. Returns (post, inserted?)."""
        stmt = (
            pg_insert(self.t)
            .values(
                id=post.id,
                title=post.title,
                body=post.body,
                created_at=post.created_at,
                request_id=request_id,
            )
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(*self.cols)
        )
        row = await insert_with_event(self.conn, stmt, event, db.posts_outbox)
        if row is not None:
            return _post(row), True
        existing = await self.conn.execute(
            sa.select(*self.cols).where(self.t.c.request_id == request_id)
        )
        return _post(existing.one()), False

    async def put(self, post: Post) -> None:
        """Store a copy of a post (read model); a copy already there is kept."""
        await self.conn.execute(
            pg_insert(self.t)
            .values(id=post.id, title=post.title, body=post.body, created_at=post.created_at)
            .on_conflict_do_nothing(index_elements=["id"])
        )

    async def get(self, post_id: str) -> Post | None:
        row = (await self.conn.execute(sa.select(*self.cols).where(self.t.c.id == post_id))).first()
        return _post(row) if row else None

    async def list_page(self, page: PageRequest) -> tuple[list[Post], str]:
        """Posts newest first, and the token of the next page ('' when this is the last)."""
        stmt = sa.select(*self.cols)
        if page.after:
            created_at, post_id = page.after
            after = sa.tuple_(sa.literal(created_at, db.TS), sa.literal(post_id, self.t.c.id.type))
            stmt = stmt.where(sa.tuple_(self.t.c.created_at, self.t.c.id) < after)
        stmt = stmt.order_by(self.t.c.created_at.desc(), self.t.c.id.desc()).limit(page.size + 1)
        rows = (await self.conn.execute(stmt)).all()
        items = [_post(r) for r in rows[: page.size]]
        more = len(rows) > page.size
        return items, encode_token(items[-1].created_at, items[-1].id) if more else ""


class CommentRepository:
    """Comments: the comments service's own table, or the async query service's copy."""

    def __init__(self, conn: AsyncConnection, table: sa.Table = db.comments) -> None:
        self.conn = conn
        self.t = table
        c = table.c
        self.cols = (c.id, c.post_id, c.content, c.status, c.created_at)

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
        values = {
            "id": comment.id,
            "post_id": comment.post_id,
            "content": comment.content,
            "status": int(comment.status),
            "created_at": comment.created_at,
            "request_id": request_id,
        }
        stmt: Any
        if only_for_known_post:
            source = sa.select(
                *(sa.literal(v, self.t.c[k].type).label(k) for k, v in values.items())
            ).where(sa.exists().where(db.known_posts.c.id == comment.post_id))
            stmt = pg_insert(self.t).from_select(list(values), source)
        else:
            stmt = pg_insert(self.t).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=["request_id"]).returning(*self.cols)
        row = await insert_with_event(self.conn, stmt, event, db.comments_outbox)
        if row is not None:
            return _comment(row), True
        if request_id is None:
            return None, False
        existing = await self.conn.execute(
            sa.select(*self.cols).where(self.t.c.request_id == request_id)
        )
        found = existing.first()
        return (_comment(found) if found else None), False

    async def put(self, comment: Comment) -> None:
        """Store a copy of a comment (read model). Statuses only move forward: a final status
        replaces PENDING, and nothing replaces a final status (events may come in any order)."""
        stmt = pg_insert(self.t).values(
            id=comment.id,
            post_id=comment.post_id,
            content=comment.content,
            status=int(comment.status),
            created_at=comment.created_at,
        )
        pending = int(CommentStatus.PENDING)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={"status": stmt.excluded.status},
            where=(self.t.c.status == pending) & (stmt.excluded.status != pending),
        )
        await self.conn.execute(stmt)

    async def list_for_posts(self, post_ids: Sequence[str]) -> list[Comment]:
        """Comments of these posts, oldest first within each post."""
        if not post_ids:
            return []
        c = self.t.c
        where = c.post_id == post_ids[0] if len(post_ids) == 1 else c.post_id.in_(post_ids)
        stmt = sa.select(*self.cols).where(where).order_by(c.post_id, c.created_at, c.id)
        return [_comment(r) for r in (await self.conn.execute(stmt)).all()]

    async def get(self, comment_id: str) -> Comment | None:
        stmt = sa.select(*self.cols).where(self.t.c.id == comment_id)
        row = (await self.conn.execute(stmt)).first()
        return _comment(row) if row else None

    async def settle(self, comment_id: str, status: CommentStatus) -> tuple[Comment | None, bool]:
        """Give a PENDING comment its final status. A status never changes once final, so a
        replayed or late decision changes nothing. Returns (comment or None, changed?)."""
        stmt = (
            sa.update(self.t)
            .where(self.t.c.id == comment_id)
            .where(self.t.c.status == int(CommentStatus.PENDING))
            .values(status=int(status))
            .returning(*self.cols)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is not None:
            return _comment(row), True
        return await self.get(comment_id), False


class DecisionRepository:
    """The moderation service's audit log of decisions, one per comment."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(self, comment_id: str, post_id: str, decision: Decision, at) -> Decision:
        """Record a decision; if one exists for this comment already, keep and return that one."""
        stmt = (
            pg_insert(db.decisions)
            .values(
                comment_id=comment_id,
                post_id=post_id,
                status=int(decision.status),
                reason=decision.reason,
                decided_at=at,
            )
            .on_conflict_do_nothing(index_elements=["comment_id"])
            .returning(db.decisions.c.status)
        )
        if (await self.conn.execute(stmt)).first() is not None:
            return decision
        row = (
            await self.conn.execute(
                sa.select(db.decisions.c.status, db.decisions.c.reason).where(
                    db.decisions.c.comment_id == comment_id
                )
            )
        ).one()
        return Decision(CommentStatus(row.status), row.reason)


async def insert_with_event(
    conn: AsyncConnection,
    insert: ReturningInsert,
    event: OutgoingEvent | None,
    outbox: sa.Table,
) -> sa.Row | None:
    """Run an INSERT ... RETURNING; if it inserted a row, queue `event` in the same statement.

    One statement is atomic even in autocommit mode, so the entity and its event commit
    together (the transactional outbox) for the cost of a single round trip.
    """
    if event is None:
        return (await conn.execute(insert)).first()
    inserted = insert.cte("inserted")
    queued = sa.insert(outbox).from_select(
        ["event_id", "subject", "data"],
        sa.select(
            sa.literal(event.event_id, outbox.c.event_id.type),
            sa.literal(event.subject, sa.Text),
            sa.literal(event.data, sa.LargeBinary),
        ).select_from(inserted),
    )
    return (await conn.execute(sa.select(inserted).add_cte(queued.cte("queued")))).first()


async def queue_event(conn: AsyncConnection, outbox: sa.Table, event: OutgoingEvent) -> None:
    """Add `event` to the outbox, inside the caller's transaction."""
    await conn.execute(
        sa.insert(outbox).values(event_id=event.event_id, subject=event.subject, data=event.data)
    )


def group_by_post(comments: Iterable[Comment]) -> dict[str, list[Comment]]:
    grouped: dict[str, list[Comment]] = {}
    for comment in comments:
        grouped.setdefault(comment.post_id, []).append(comment)
    return grouped
