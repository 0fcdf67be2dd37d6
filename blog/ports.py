"""Ports: what the features need from the outside, as small Protocols.

Each implementation plugs in its own adapters: the repositories of lab.store (on the Database or
on a connection the caller holds), and for the comment rule a moderation port and, where the
store cannot tell whether a post exists, a post directory (sync: gRPC calls to the moderation
and posts services; async: a decision that comes later by event, and a store that refuses a
comment on a post it has not heard of in the insert itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from blog.domain import Comment, CommentStatus, Decision, Post, PostView
from blog.paging import PageRequest


class PostReader(Protocol):
    async def get(self, post_id: str) -> Post | None: ...

    async def list_page(self, page: PageRequest) -> tuple[list[Post], str]: ...


class PostStore(PostReader, Protocol):
    async def add(self, post: Post, request_id: str | None = None) -> tuple[Post, bool]: ...


class CommentReader(Protocol):
    async def list_for_posts(self, post_ids: Sequence[str]) -> list[Comment]: ...


class PostViewReader(Protocol):
    """Posts with their comments, read together: sync asks the posts and comments services at
    request time, async reads its read model (one statement)."""

    async def view(self, post_id: str) -> PostView | None: ...

    async def view_page(self, page: PageRequest) -> tuple[list[PostView], str]:
        """Posts newest first with their comments, and the next page's token ('' if last)."""
        ...


class CommentStore(CommentReader, Protocol):
    async def add(
        self, comment: Comment, request_id: str | None = None
    ) -> tuple[Comment | None, bool]:
        """(None, False) when the store itself refuses a comment on a post it does not know."""
        ...

    async def settle(
        self, comment_id: str, status: CommentStatus
    ) -> tuple[Comment | None, bool]: ...


class DecisionLog(Protocol):
    async def record(
        self, comment_id: str, post_id: str, decision: Decision, at: datetime
    ) -> Decision: ...


class PostDirectory(Protocol):
    """Does a post exist (as far as this service can tell)?"""

    async def exists(self, post_id: str) -> bool: ...


class ModerationPort(Protocol):
    """The moderation decision for a new comment (final, or PENDING when it comes later)."""

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision: ...


class KnownPosts(Protocol):
    """Has this service applied a post's creation (async: its copy of known post ids)?"""

    async def knows(self, post_id: str) -> bool: ...


class PostArrivals(Protocol):
    """Waits until this service knows a post (async: woken when it learns of one, never by
    polling; async_impl/arrivals.py)."""

    async def wait_known(self, post_id: str, timeout_s: float) -> bool:
        """True once the post is known (now or within `timeout_s`), False at the bound."""
        ...


class HoldingCommentStore(CommentStore, Protocol):
    """A comment store that can hold a comment on a post it does not know yet (the async
    `accept` policy): stored PENDING, announced only once the post is known."""

    async def add_or_hold(
        self, comment: Comment, request_id: str | None, until: datetime
    ) -> tuple[Comment, bool]:
        """Store `comment`. If its post is known, announce it as usual; else hold it until
        the post becomes known or `until` passes. Atomic against the post becoming known.
        Returns (the comment, or the one stored before under request_id; inserted?)."""
        ...


class HeldComments(Protocol):
    """Comments held for a post not known yet: released when it is, rejected when too late."""

    async def release(self, post_id: str) -> list[Comment]:
        """Stop holding the comments on `post_id` (now known); they proceed as usual."""
        ...

    async def expire(self, at: datetime, status: CommentStatus) -> list[Comment]:
        """Give every comment held past `at` the final `status`; return them (changed)."""
        ...
