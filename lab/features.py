"""Feature logic shared by both implementations: plain functions of a database and a command.

They know nothing of gRPC or NATS; transports translate protobuf <-> these arguments.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from lab import events
from lab.db import Database
from lab.domain import Comment, Decision, Moderator, NewPost, NotFound, Post, validate_uuid
from lab.paging import PageRequest
from lab.repositories import (
    CommentRepository,
    DecisionRepository,
    PostRepository,
    group_by_post,
)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


async def create_post(
    db: Database, new: NewPost, *, with_event: bool = False
) -> tuple[Post, events.OutgoingEvent | None]:
    """Store a new post (idempotent per request_id). Returns it, and the PostCreated event that
    committed with it (with_event, the async implementation; None when nothing new was stored).
    """
    post = Post(new_id(), new.title, new.body, now())
    event = events.post_created(post) if with_event else None
    async with db.connect() as conn:
        stored, inserted = await PostRepository(conn).add(post, new.request_id, event)
    return stored, event if inserted else None


async def get_post(db: Database, post_id: str) -> Post:
    post_id = validate_uuid("id", post_id)
    async with db.connect() as conn:
        post = await PostRepository(conn).get(post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post


async def list_posts(db: Database, page: PageRequest) -> tuple[list[Post], str]:
    async with db.connect() as conn:
        return await PostRepository(conn).list_page(page)


async def list_comments(db: Database, post_ids: list[str]) -> list[Comment]:
    """Comments of the given posts (oldest first per post); ids are validated here."""
    ids = [validate_uuid("post_ids" if len(post_ids) > 1 else "post_id", i) for i in post_ids]
    async with db.connect() as conn:
        return await CommentRepository(conn).list_for_posts(ids)


async def moderate(
    db: Database,
    moderator: Moderator,
    comment_id: str,
    post_id: str,
    content: str,
    delay_s: float = 0.0,
) -> Decision:
    """Decide with the shared rule and record the decision (the first decision per comment wins)."""
    comment_id = validate_uuid("comment_id", comment_id)
    post_id = validate_uuid("post_id", post_id)
    if delay_s:
        await asyncio.sleep(delay_s)  # --moderation-delay-ms: a deliberately slow dependency
    decision = moderator.decide(content)
    async with db.connect() as conn:
        return await DecisionRepository(conn).record(comment_id, post_id, decision, now())


async def get_post_view(
    db: Database, post_id: str, posts: str, comments: str
) -> tuple[Post, list[Comment]]:
    """A post and its comments read from local tables (the async query's read model)."""
    post_id = validate_uuid("post_id", post_id)
    async with db.connect() as conn:
        post = await PostRepository(conn, posts).get(post_id)
        if post is None:
            raise NotFound(f"post {post_id} not found")
        return post, await CommentRepository(conn, comments).list_for_posts([post_id])


async def list_post_views(
    db: Database, page: PageRequest, posts: str, comments: str
) -> tuple[list[tuple[Post, list[Comment]]], str]:
    """A page of posts (newest first) with their comments, read from local tables."""
    async with db.connect() as conn:
        page_posts, token = await PostRepository(conn, posts).list_page(page)
        found = await CommentRepository(conn, comments).list_for_posts([p.id for p in page_posts])
    by_post = group_by_post(found)
    return [(p, by_post.get(p.id, [])) for p in page_posts], token
