"""Fallbacks: what the sync services answer when a peer cannot be asked (Hystrix's fallbacks;
docs/METHOD.md, Resilience).

- A post view whose comments cannot be read is the post alone, marked partial
  (PostView.comments_complete False -> PostView.completeness VIEW_WITHOUT_COMMENTS), never a
  failure: the post is what the reader came for.
- CreateComment while the posts service cannot be asked: a post this process has seen to exist
  still exists (posts are never deleted), so the comment is taken; any other post is refused
  UNAVAILABLE at once. Moderation has no fallback: a comment is refused while it cannot be
  moderated (accepting it PENDING would need a durable queue of comments to moderate later,
  with retries: the async design by another name).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from blog.convert import comment_from_pb, post_from_pb
from blog.domain import DeadlineExceeded, NotFound, PostView, Unavailable, post_views
from blog.paging import PageRequest
from blog.ports import PostDirectory
from blog.rpc.metrics import Metrics
from blog.v1 import api_pb2_grpc, internal_pb2_grpc
from sync_impl.peers import GrpcPostViews, PeerCall

R = TypeVar("R")


async def or_none(call: Coroutine[Any, Any, R]) -> R | None:
    """The call's result, or None when its peer was unavailable or missed the deadline."""
    try:
        return await call
    except (Unavailable, DeadlineExceeded):
        return None


class PartialPostViews(GrpcPostViews):
    """GrpcPostViews that answers without comments when the comments service cannot be asked
    (counted: `views_partial`). The posts service remains needed: without the post there is
    nothing to show. The comments call ends `reserve_s` before the caller's deadline, so the
    partial answer still arrives in time."""

    def __init__(
        self,
        posts: api_pb2_grpc.PostServiceStub,
        comments: api_pb2_grpc.CommentServiceStub,
        comment_index: internal_pb2_grpc.CommentIndexServiceStub,
        timeout_s: Callable[[], float],
        call: PeerCall,
        reserve_s: float,
        metrics: Metrics,
    ) -> None:
        super().__init__(posts, comments, comment_index, timeout_s, call)
        self.reserve_s = reserve_s
        self.metrics = metrics

    def _comments_timeout(self, timeout: float) -> float:
        return max(0.001, timeout - self.reserve_s)

    async def view(self, post_id: str) -> PostView | None:
        timeout = self.timeout_s()
        comments = asyncio.create_task(
            or_none(self._comments(post_id, self._comments_timeout(timeout)))
        )
        try:
            post = post_from_pb(await self._post(post_id, timeout))
        except BaseException as error:
            comments.cancel()
            await asyncio.gather(comments, return_exceptions=True)
            if isinstance(error, NotFound):
                return None
            raise
        found = await comments
        if found is None:
            self.metrics.inc("views_partial")
            return PostView.without_comments(post)
        return post_views([post], [comment_from_pb(c) for c in found.comments])[0]

    async def view_page(self, page: PageRequest) -> tuple[list[PostView], str]:
        listed = await self._page_posts(page)
        posts = [post_from_pb(p) for p in listed.posts]
        if not posts:
            return [], listed.next_page_token
        timeout = self._comments_timeout(self.timeout_s())
        found = await or_none(self._page_comments([p.id for p in posts], timeout))
        if found is None:
            self.metrics.inc("views_partial", len(posts))
            return [PostView.without_comments(p) for p in posts], listed.next_page_token
        comments = [comment_from_pb(c) for c in found.comments]
        return post_views(posts, comments), listed.next_page_token


class SeenPosts:
    """Ids of posts seen to exist, the most recently seen kept, at most `size`. Posts are never
    deleted, so an entry cannot go stale; there are no negative entries (a post unknown now
    may be created the next moment)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def remember(self, post_id: str) -> None:
        self._ids[post_id] = None
        self._ids.move_to_end(post_id)
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __contains__(self, post_id: object) -> bool:
        return post_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class SeenPostsDirectory:
    """PostDirectory: the posts service's answer (remembered when the post exists); when the
    posts service cannot be asked, a post seen before exists (counted: `post_checks_from_seen`),
    any other is refused (the UNAVAILABLE or DEADLINE_EXCEEDED of the call)."""

    def __init__(self, inner: PostDirectory, seen: SeenPosts, metrics: Metrics) -> None:
        self.inner = inner
        self.seen = seen
        self.metrics = metrics

    async def exists(self, post_id: str) -> bool:
        try:
            found = await self.inner.exists(post_id)
        except (Unavailable, DeadlineExceeded):
            if post_id in self.seen:
                self.metrics.inc("post_checks_from_seen")
                return True
            raise
        if found:
            self.seen.remember(post_id)
        return found
