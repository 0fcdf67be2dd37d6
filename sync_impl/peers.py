"""gRPC adapters for the ports of the sync services: the posts service answers whether a post
exists, the moderation service decides, and posts and comments together give the post views
(all at request time, within the caller's deadline)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from blog.convert import comment_from_pb, post_from_pb
from blog.domain import CommentStatus, Decision, NotFound, PostView, post_views
from blog.paging import PageRequest, encode_token
from blog.rpc.errors import call_peer
from blog.v1 import api_pb2, api_pb2_grpc, internal_pb2, internal_pb2_grpc


class GrpcPostDirectory:
    """PostDirectory: a GetPost call to the posts service."""

    def __init__(self, stub: api_pb2_grpc.PostServiceStub, timeout_s: float) -> None:
        self.stub, self.timeout_s = stub, timeout_s

    async def exists(self, post_id: str) -> bool:
        try:
            await call_peer(
                "posts",
                self.stub.GetPost(api_pb2.GetPostRequest(id=post_id), timeout=self.timeout_s),
            )
        except NotFound:
            return False
        return True


class GrpcModeration:
    """ModerationPort: a Moderate call to the moderation service (a final decision)."""

    def __init__(self, stub: internal_pb2_grpc.ModerationServiceStub, timeout_s: float) -> None:
        self.stub, self.timeout_s = stub, timeout_s

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        request = internal_pb2.ModerateRequest(
            comment_id=comment_id, post_id=post_id, content=content
        )
        reply = await call_peer("moderation", self.stub.Moderate(request, timeout=self.timeout_s))
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
    ) -> None:
        self.posts, self.comments, self.comment_index = posts, comments, comment_index
        self.timeout_s = timeout_s

    async def view(self, post_id: str) -> PostView | None:
        timeout = self.timeout_s()
        # Independent reads: ask both at once (a TaskGroup cancels one when the other fails).
        known = True
        try:
            async with asyncio.TaskGroup() as group:
                post = group.create_task(
                    call_peer(
                        "posts",
                        self.posts.GetPost(api_pb2.GetPostRequest(id=post_id), timeout=timeout),
                    )
                )
                comments = group.create_task(
                    call_peer(
                        "comments",
                        self.comments.ListComments(
                            api_pb2.ListCommentsRequest(post_id=post_id), timeout=timeout
                        ),
                    )
                )
        except* NotFound:  # from GetPost: the post does not exist
            known = False
        if not known:
            return None
        return post_views(
            [post_from_pb(post.result())],
            [comment_from_pb(c) for c in comments.result().comments],
        )[0]

    async def view_page(self, page: PageRequest) -> tuple[list[PostView], str]:
        token = encode_token(*page.after) if page.after else ""
        listed = await call_peer(
            "posts",
            self.posts.ListPosts(
                api_pb2.ListPostsRequest(page_size=page.size, page_token=token),
                timeout=self.timeout_s(),
            ),
        )
        posts = [post_from_pb(p) for p in listed.posts]
        if not posts:
            return [], listed.next_page_token
        # One batched call for the whole page, not one call per post.
        found = await call_peer(
            "comments",
            self.comment_index.ListCommentsForPosts(
                internal_pb2.ListCommentsForPostsRequest(post_ids=[p.id for p in posts]),
                timeout=self.timeout_s(),
            ),
        )
        comments = [comment_from_pb(c) for c in found.comments]
        return post_views(posts, comments), listed.next_page_token
