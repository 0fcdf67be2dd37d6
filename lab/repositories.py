"""Repositories: each service's persistence behind a few methods (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lab import db
from lab.domain import Comment, CommentStatus, Decision, Post
from lab.paging import PageRequest, encode_token

_POST_COLUMNS = (db.posts.c.id, db.posts.c.title, db.posts.c.body, db.posts.c.created_at)
_COMMENT_COLUMNS = (
    db.comments.c.id,
    db.comments.c.post_id,
    db.comments.c.content,
    db.comments.c.status,
    db.comments.c.created_at,
)


def _post(row: sa.Row) -> Post:
    return Post(row.id, row.title, row.body, row.created_at)


def _comment(row: sa.Row) -> Comment:
    return Comment(row.id, row.post_id, row.content, CommentStatus(row.status), row.created_at)


class PostRepository:
    """The posts service's posts."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, post: Post, request_id: str | None = None) -> tuple[Post, bool]:
        """Insert `post`; with a request_id already used, return that post. (post, inserted?)"""
        stmt = (
            pg_insert(db.posts)
            .values(
                id=post.id,
                title=post.title,
                body=post.body,
                created_at=post.created_at,
                request_id=request_id,
            )
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(*_POST_COLUMNS)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is not None:
            return _post(row), True
        existing = await self.conn.execute(
            sa.select(*_POST_COLUMNS).where(db.posts.c.request_id == request_id)
        )
        return _post(existing.one()), False

    async def get(self, post_id: str) -> Post | None:
        row = (
            await self.conn.execute(sa.select(*_POST_COLUMNS).where(db.posts.c.id == post_id))
        ).first()
        return _post(row) if row else None

    async def list_page(self, page: PageRequest) -> tuple[list[Post], str]:
        """Posts newest first, and the token of the next page ('' when this is the last)."""
        stmt = sa.select(*_POST_COLUMNS)
        if page.after:
            created_at, post_id = page.after
            after = sa.tuple_(
                sa.literal(created_at, db.TS), sa.literal(post_id, db.posts.c.id.type)
            )
            stmt = stmt.where(sa.tuple_(db.posts.c.created_at, db.posts.c.id) < after)
        stmt = stmt.order_by(db.posts.c.created_at.desc(), db.posts.c.id.desc()).limit(
            page.size + 1
        )
        rows = (await self.conn.execute(stmt)).all()
        items = [_post(r) for r in rows[: page.size]]
        more = len(rows) > page.size
        return items, encode_token(items[-1].created_at, items[-1].id) if more else ""


class CommentRepository:
    """The comments service's comments."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, comment: Comment, request_id: str | None = None) -> tuple[Comment, bool]:
        """Insert `comment`; with a request_id already used, return that comment."""
        stmt = (
            pg_insert(db.comments)
            .values(
                id=comment.id,
                post_id=comment.post_id,
                content=comment.content,
                status=int(comment.status),
                created_at=comment.created_at,
                request_id=request_id,
            )
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(*_COMMENT_COLUMNS)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is not None:
            return _comment(row), True
        existing = await self.conn.execute(
            sa.select(*_COMMENT_COLUMNS).where(db.comments.c.request_id == request_id)
        )
        return _comment(existing.one()), False

    async def list_for_posts(self, post_ids: Sequence[str]) -> list[Comment]:
        """Comments of these posts, oldest first within each post."""
        if not post_ids:
            return []
        c = db.comments.c
        where = c.post_id == post_ids[0] if len(post_ids) == 1 else c.post_id.in_(post_ids)
        stmt = sa.select(*_COMMENT_COLUMNS).where(where).order_by(c.post_id, c.created_at, c.id)
        return [_comment(r) for r in (await self.conn.execute(stmt)).all()]

    async def set_status(self, comment_id: str, status: CommentStatus) -> Comment | None:
        stmt = (
            sa.update(db.comments)
            .where(db.comments.c.id == comment_id)
            .values(status=int(status))
            .returning(*_COMMENT_COLUMNS)
        )
        row = (await self.conn.execute(stmt)).first()
        return _comment(row) if row else None


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


def group_by_post(comments: Iterable[Comment]) -> dict[str, list[Comment]]:
    grouped: dict[str, list[Comment]] = {}
    for comment in comments:
        grouped.setdefault(comment.post_id, []).append(comment)
    return grouped
