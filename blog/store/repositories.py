"""Repositories: each service's persistence behind a few methods (SQL on an Executor).

Table names come from the SQLAlchemy declarations (never from input); values are always bound
parameters. Every insert goes through `_statement`, so a subclass can make the same statement do
more (the async implementation's outbox: the entity and its event in one statement).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from blog.domain import Comment, CommentStatus, Decision, Post
from blog.paging import PageRequest, cut_page
from blog.store import schema
from blog.store.pool import Executor

PENDING = int(CommentStatus.PENDING)


def _post(row: Any) -> Post:
    return Post(row["id"], row["title"], row["body"], row["created_at"])


def _comment(row: Any) -> Comment:
    return Comment(
        row["id"], row["post_id"], row["content"], CommentStatus(row["status"]), row["created_at"]
    )


comment_from_row = _comment  # for stores elsewhere that read CommentRepository.COLUMNS


class PostRepository:
    """Posts: the posts service's own table, or a copy of it (the async query's post_views)."""

    COLUMNS = "id, title, body, created_at"

    def __init__(self, db: Executor, table: str = schema.posts.name) -> None:
        self.db = db
        self.t = table

    def _statement(self, insert_returning: str, next_param: int, post: Post) -> tuple[str, tuple]:
        """The statement that inserts `post` (a hook: see the module docstring)."""
        return insert_returning, ()

    async def add(self, post: Post, request_id: str | None = None) -> tuple[Post, bool]:
        """Insert `post`; with a request_id already used, return that post instead.
        Returns (post, inserted?)."""
        sql, extra = self._statement(
            f"INSERT INTO {self.t} (id, title, body, created_at, request_id) "
            "VALUES ($1, $2, $3, $4, $5) "
            f"ON CONFLICT (request_id) DO NOTHING RETURNING {self.COLUMNS}",
            6,
            post,
        )
        row = await self.db.fetchrow(
            sql, post.id, post.title, post.body, post.created_at, request_id, *extra
        )
        if row is not None:
            return _post(row), True
        existing = await self.db.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE request_id = $1", request_id
        )
        return _post(existing), False

    async def put(self, post: Post) -> None:
        """Store a copy of a post (read model); a copy already there is kept."""
        await self.db.execute(
            f"INSERT INTO {self.t} ({self.COLUMNS}) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (id) DO NOTHING",
            post.id,
            post.title,
            post.body,
            post.created_at,
        )

    async def get(self, post_id: str) -> Post | None:
        row = await self.db.fetchrow(f"SELECT {self.COLUMNS} FROM {self.t} WHERE id = $1", post_id)
        return _post(row) if row else None

    async def list_page(self, page: PageRequest) -> tuple[list[Post], str]:
        """Posts newest first, and the token of the next page ('' when this is the last)."""
        sql, args = newest_first(f"SELECT {self.COLUMNS} FROM {self.t}", page)
        rows = await self.db.fetch(sql, *args)
        return cut_page([_post(r) for r in rows], page.size, lambda p: (p.created_at, p.id))


def newest_first(select: str, page: PageRequest) -> tuple[str, tuple[Any, ...]]:
    """`select` (SELECT ... FROM a posts table) as the page after page.after, newest first,
    with one row more than the page (is there a next one?), and its parameters."""
    order = "ORDER BY created_at DESC, id DESC LIMIT"
    size = page.size + 1
    if page.after:
        return f"{select} WHERE (created_at, id) < ($1, $2) {order} $3", (*page.after, size)
    return f"{select} {order} $1", (size,)


class CommentRepository:
    """Comments: the comments service's own table, or a copy of it (the async query's)."""

    COLUMNS = "id, post_id, content, status, created_at"

    def __init__(self, db: Executor, table: str = schema.comments.name) -> None:
        self.db = db
        self.t = table

    def _statement(
        self, insert_returning: str, next_param: int, comment: Comment
    ) -> tuple[str, tuple]:
        """The statement that inserts `comment` (a hook: see the module docstring)."""
        return insert_returning, ()

    # The row an insert writes, from parameters $1..$6. A subclass may make it conditional (a
    # SELECT ... WHERE), like a foreign key the store checks in the same statement.
    ROW = "VALUES ($1, $2, $3, $4, $5, $6)"

    async def add(
        self, comment: Comment, request_id: str | None = None
    ) -> tuple[Comment | None, bool]:
        """Insert `comment`; with a request_id already used, return that comment instead.
        Returns (comment, inserted?); (None, False) when the store refused the row (see ROW)."""
        c = comment
        sql, extra = self._statement(
            f"INSERT INTO {self.t} (id, post_id, content, status, created_at, request_id) "
            f"{self.ROW} ON CONFLICT (request_id) DO NOTHING RETURNING {self.COLUMNS}",
            7,
            comment,
        )
        row = await self.db.fetchrow(
            sql, c.id, c.post_id, c.content, int(c.status), c.created_at, request_id, *extra
        )
        if row is not None:
            return _comment(row), True
        if request_id is None:
            return None, False
        found = await self.db.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE request_id = $1", request_id
        )
        return (_comment(found) if found else None), False

    async def put(self, comment: Comment) -> None:
        """Store a copy of a comment (read model). Statuses only move forward: a final status
        replaces PENDING, and nothing replaces a final status (events may come in any order)."""
        await self.db.execute(
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
        """Comments of these posts (in no particular order: blog.domain.oldest_first orders
        every answer)."""
        if not post_ids:
            return []
        if len(post_ids) == 1:
            rows = await self.db.fetch(
                f"SELECT {self.COLUMNS} FROM {self.t} WHERE post_id = $1",
                post_ids[0],
            )
        else:
            rows = await self.db.fetch(
                f"SELECT {self.COLUMNS} FROM {self.t} WHERE post_id = ANY($1::uuid[])",
                list(post_ids),
            )
        return [_comment(r) for r in rows]

    async def get(self, comment_id: str) -> Comment | None:
        row = await self.db.fetchrow(
            f"SELECT {self.COLUMNS} FROM {self.t} WHERE id = $1", comment_id
        )
        return _comment(row) if row else None

    async def settle(self, comment_id: str, status: CommentStatus) -> tuple[Comment | None, bool]:
        """Give a PENDING comment its final status. A status never changes once final, so a
        replayed or late decision changes nothing. Returns (comment or None, changed?)."""
        row = await self.db.fetchrow(
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

    def __init__(self, db: Executor) -> None:
        self.db = db
        self.t = schema.decisions.name

    async def record(
        self, comment_id: str, post_id: str, decision: Decision, at: datetime
    ) -> Decision:
        """Record a decision; if one exists for this comment already, keep and return that one."""
        inserted = await self.db.fetchrow(
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
        row = await self.db.fetchrow(
            f"SELECT status, reason FROM {self.t} WHERE comment_id = $1", comment_id
        )
        return Decision(CommentStatus(row["status"]), row["reason"])
