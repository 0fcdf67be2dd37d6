"""gRPC adapters for the ports of the sync services: the posts service answers whether a post
exists, the moderation service decides, and posts and comments together give the post views
(all at request time, within the caller's deadline).

Every call to a peer goes through one seam, a PeerCall: plain sync makes the call as it is
(`direct_call`); sync with resilience patterns guards it (sync_impl/resilience/). `Adapters`
builds the adapters a process uses, so a servicer never knows which variant it runs in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from blog.convert import comment_from_pb, post_from_pb
from blog.domain import CommentStatus, Decision, NotFound, PostView, post_views
from blog.paging import PageRequest, encode_token
from blog.ports import ModerationPort, PostDirectory, PostViewReader
from blog.rpc.errors import call_peer
from blog.v1 import api_pb2, api_pb2_grpc, internal_pb2, internal_pb2_grpc

R = TypeVar("R")


class PeerCall(Protocol):
    """Make one call to service `peer`: `make()` starts it (not called at all when a guard
    refuses it). Raises the domain errors of blog.rpc.errors.call_peer."""

    def __call__(self, peer: str, make: Callable[[], Awaitable[R]]) -> Coroutine[Any, Any, R]: ...


async def direct_call(peer: str, make: Callable[[], Awaitable[R]]) -> R:
    """Plain sync: the call as it is (deadline and gRPC's own retries only)."""
    return await call_peer(peer, make())


class GrpcPostDirectory:
    """PostDirectory: a GetPost call to the posts service."""

    def __init__(
        self, stub: api_pb2_grpc.PostServiceStub, timeout_s: float, call: PeerCall = direct_call
    ) -> None:
        self.stub, self.timeout_s, self.call = stub, timeout_s, call

    async def exists(self, post_id: str) -> bool:
        request = api_pb2.GetPostRequest(id=post_id)
        try:
            await self.call("posts", lambda: self.stub.GetPost(request, timeout=self.timeout_s))
        except NotFound:
            return False
        return True


class GrpcModeration:
    """ModerationPort: a Moderate call to the moderation service (a final decision)."""

    def __init__(
        self,
        stub: internal_pb2_grpc.ModerationServiceStub,
        timeout_s: float,
        call: PeerCall = direct_call,
    ) -> None:
        self.stub, self.timeout_s, self.call = stub, timeout_s, call

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        request = internal_pb2.ModerateRequest(
            comment_id=comment_id, post_id=post_id, content=content
        )
        reply = await self.call(
            "moderation", lambda: self.stub.Moderate(request, timeout=self.timeout_s)
        )
        return Decision(CommentStatus(reply.status), reply.reason)


class GrpcPostViews:
    """PostViewReader: a view is the posts service's post and the comments service's comments,
    asked at once; a page is a page of posts, then their comments in one batched call.
    `timeout_s()` is the deadline for the next call (what the caller's deadline still allows)."""

    def __init__(
        self,
        posts: api_pb2_grpc.PostServiceStub,
        comments: api_pb2_grpc.CommentServiceStub,
        comment_index: internal_pb2_grpc.CommentIndexServiceStub,
        timeout_s: Callable[[], float],
        call: PeerCall = direct_call,
    ) -> None:
        self.posts, self.comments, self.comment_index = posts, comments, comment_index
        self.timeout_s = timeout_s
        self.call = call

    async def view(self, post_id: str) -> PostView | None:
        timeout = self.timeout_s()
        # Independent reads: ask both at once (a TaskGroup cancels one when the other fails).
        known = True
        try:
            async with asyncio.TaskGroup() as group:
                post = group.create_task(self._post(post_id, timeout))
                comments = group.create_task(self._comments(post_id, timeout))
        except* NotFound:  # from GetPost: the post does not exist
            known = False
        if not known:
            return None
        return post_views(
            [post_from_pb(post.result())],
            [comment_from_pb(c) for c in comments.result().comments],
        )[0]

    def _post(self, post_id: str, timeout: float) -> Coroutine[Any, Any, api_pb2.Post]:
        request = api_pb2.GetPostRequest(id=post_id)
        return self.call("posts", lambda: self.posts.GetPost(request, timeout=timeout))

    def _comments(
        self, post_id: str, timeout: float
    ) -> Coroutine[Any, Any, api_pb2.ListCommentsResponse]:
        request = api_pb2.ListCommentsRequest(post_id=post_id)
        return self.call("comments", lambda: self.comments.ListComments(request, timeout=timeout))

    def _page_comments(
        self, post_ids: list[str], timeout: float
    ) -> Coroutine[Any, Any, internal_pb2.ListCommentsForPostsResponse]:
        # One batched call for the whole page, not one call per post.
        request = internal_pb2.ListCommentsForPostsRequest(post_ids=post_ids)
        return self.call(
            "comments", lambda: self.comment_index.ListCommentsForPosts(request, timeout=timeout)
        )

    async def _page_posts(self, page: PageRequest) -> api_pb2.ListPostsResponse:
        token = encode_token(*page.after) if page.after else ""
        request = api_pb2.ListPostsRequest(page_size=page.size, page_token=token)
        timeout = self.timeout_s()
        return await self.call("posts", lambda: self.posts.ListPosts(request, timeout=timeout))

    async def view_page(self, page: PageRequest) -> tuple[list[PostView], str]:
        listed = await self._page_posts(page)
        posts = [post_from_pb(p) for p in listed.posts]
        if not posts:
            return [], listed.next_page_token
        found = await self._page_comments([p.id for p in posts], self.timeout_s())
        comments = [comment_from_pb(c) for c in found.comments]
        return post_views(posts, comments), listed.next_page_token


class Adapters:
    """The adapters of one sync service process for its peers' ports, with plain calls: the
    baseline a naive team ships. sync_impl.resilience.ResilientAdapters is the same with the
    resilience patterns around every call (and fallbacks where an answer can do without)."""

    def call(self, peer: str, make: Callable[[], Awaitable[R]]) -> Coroutine[Any, Any, R]:
        return direct_call(peer, make)

    def post_directory(self, stub: api_pb2_grpc.PostServiceStub, timeout_s: float) -> PostDirectory:
        return GrpcPostDirectory(stub, timeout_s, self.call)

    def moderation(
        self, stub: internal_pb2_grpc.ModerationServiceStub, timeout_s: float
    ) -> ModerationPort:
        return GrpcModeration(stub, timeout_s, self.call)

    def post_views(
        self,
        posts: api_pb2_grpc.PostServiceStub,
        comments: api_pb2_grpc.CommentServiceStub,
        comment_index: internal_pb2_grpc.CommentIndexServiceStub,
        timeout_s: Callable[[], float],
    ) -> PostViewReader:
        return GrpcPostViews(posts, comments, comment_index, timeout_s, self.call)
