"""The blog's use cases, shared by both implementations: plain functions of ports.

They know nothing of gRPC, NATS or transactions: the caller builds the repositories on the unit
of work it owns (the Database for one statement, or a connection inside its transaction, as the
async consumers do) and plugs in its adapters for the ports (lab.ports).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from lab.domain import (
    Comment,
    CommentStatus,
    Decision,
    Moderator,
    NewComment,
    NewPost,
    NotFound,
    Post,
    validate_uuid,
)
from lab.paging import PageRequest
from lab.ports import (
    CommentReader,
    CommentStore,
    DecisionLog,
    ModerationPort,
    PostDirectory,
    PostReader,
    PostStore,
)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


# --- posts -----------------------------------------------------------------------------------
async def create_post(posts: PostStore, new: NewPost) -> tuple[Post, bool]:
    """Store a new post (idempotent per request_id). Returns it, and whether it is new."""
    return await posts.add(Post(new_id(), new.title, new.body, now()), new.request_id)


async def get_post(posts: PostReader, post_id: str) -> Post:
    post_id = validate_uuid("id", post_id)
    post = await posts.get(post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post


async def list_posts(posts: PostReader, page: PageRequest) -> tuple[list[Post], str]:
    return await posts.list_page(page)


# --- comments and moderation -----------------------------------------------------------------
async def create_comment(
    comments: CommentStore,
    new: NewComment,
    moderation: ModerationPort,
    posts: PostDirectory | None = None,
) -> tuple[Comment, bool]:
    """The comment rule: a comment is stored only on a post that exists, with the status
    moderation gives it (final in sync, PENDING in async), idempotently per request_id.

    Whether the post exists is asked of `posts` (sync: the posts service), or, when `posts` is
    None, enforced by the store in the insert itself (async: the posts this service has heard
    of; one statement, no race). Returns the comment and whether it is new.
    """
    comment_id = new_id()
    if posts is None:
        decision = await moderation.moderate(comment_id, new.post_id, new.content)
    else:
        # Independent questions across the network: ask them concurrently, so the request pays
        # one hop, not two. A TaskGroup cancels the other as soon as one fails.
        async with asyncio.TaskGroup() as group:
            exists = group.create_task(posts.exists(new.post_id))
            asked = group.create_task(moderation.moderate(comment_id, new.post_id, new.content))
        if not exists.result():
            raise NotFound(f"post {new.post_id} not found")
        decision = asked.result()
    comment = Comment(comment_id, new.post_id, new.content, decision.status, now())
    stored, inserted = await comments.add(comment, new.request_id)
    if stored is None:
        raise NotFound(f"post {new.post_id} not found")
    return stored, inserted


async def list_comments(comments: CommentReader, post_ids: Sequence[str]) -> list[Comment]:
    """Comments of the given posts (oldest first per post); ids are validated here."""
    field = "post_ids" if len(post_ids) > 1 else "post_id"
    return await comments.list_for_posts([validate_uuid(field, i) for i in post_ids])


async def moderate(
    decisions: DecisionLog, moderator: Moderator, comment_id: str, post_id: str, content: str
) -> Decision:
    """The moderation rule, applied and recorded (the first decision per comment wins)."""
    comment_id = validate_uuid("comment_id", comment_id)
    post_id = validate_uuid("post_id", post_id)
    return await decisions.record(comment_id, post_id, moderator.decide(content), now())


async def settle_comment(
    comments: CommentStore, comment_id: str, status: CommentStatus
) -> tuple[Comment | None, bool]:
    """Give a PENDING comment the final status moderation decided (async). Returns the comment
    (None when unknown) and whether its status changed."""
    return await comments.settle(comment_id, status)


# --- views -----------------------------------------------------------------------------------
async def get_post_view(
    posts: PostReader, comments: CommentReader, post_id: str
) -> tuple[Post, list[Comment]]:
    """A post and its comments, read from the given stores."""
    post_id = validate_uuid("post_id", post_id)
    post = await posts.get(post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post, await comments.list_for_posts([post_id])


async def list_post_views(
    posts: PostReader, comments: CommentReader, page: PageRequest
) -> tuple[list[tuple[Post, list[Comment]]], str]:
    """A page of posts (newest first) with their comments, read from the given stores."""
    page_posts, token = await posts.list_page(page)
    by_post = group_by_post(await comments.list_for_posts([p.id for p in page_posts]))
    return [(p, by_post.get(p.id, [])) for p in page_posts], token


def group_by_post(comments: Iterable[Comment]) -> dict[str, list[Comment]]:
    grouped: dict[str, list[Comment]] = {}
    for comment in comments:
        grouped.setdefault(comment.post_id, []).append(comment)
    return grouped
