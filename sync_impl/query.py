"""sync query service: owns no data; builds each view at request time from posts and comments."""

from __future__ import annotations

import asyncio

import grpc

from blog.domain import validate_uuid
from blog.paging import PageRequest
from blog.rpc.channels import aio_channel
from blog.rpc.errors import call_peer, remaining_timeout, rpc_method
from blog.rpc.process import Assembly, run
from blog.rpc.server import service_name
from blog.rpc.settings import ServiceSettings
from blog.v1 import api_pb2, api_pb2_grpc, internal_pb2, internal_pb2_grpc


class QueryServicer(api_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        posts: api_pb2_grpc.PostServiceStub,
        comments: api_pb2_grpc.CommentServiceStub,
        comment_index: internal_pb2_grpc.CommentIndexServiceStub,
        call_timeout_s: float,
    ) -> None:
        self.posts = posts
        self.comments = comments
        self.comment_index = comment_index
        self.call_timeout_s = call_timeout_s

    @rpc_method
    async def GetPostView(
        self, request: api_pb2.GetPostViewRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.PostView:
        post_id = validate_uuid("post_id", request.post_id)
        timeout = remaining_timeout(context, self.call_timeout_s)
        # Independent reads: fetch both at once.
        async with asyncio.TaskGroup() as group:
            post = group.create_task(
                call_peer(
                    "posts", self.posts.GetPost(api_pb2.GetPostRequest(id=post_id), timeout=timeout)
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
        return api_pb2.PostView(post=post.result(), comments=comments.result().comments)

    @rpc_method
    async def ListPostViews(
        self, request: api_pb2.ListPostViewsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListPostViewsResponse:
        page = PageRequest.parse(request.page_size, request.page_token)  # validate before calling
        timeout = remaining_timeout(context, self.call_timeout_s)
        posts = await call_peer(
            "posts",
            self.posts.ListPosts(
                api_pb2.ListPostsRequest(page_size=page.size, page_token=request.page_token),
                timeout=timeout,
            ),
        )
        by_post: dict[str, list[api_pb2.Comment]] = {p.id: [] for p in posts.posts}
        if by_post:
            # One batched call for the whole page, not one call per post.
            found = await call_peer(
                "comments",
                self.comment_index.ListCommentsForPosts(
                    internal_pb2.ListCommentsForPostsRequest(post_ids=list(by_post)),
                    timeout=remaining_timeout(context, self.call_timeout_s),
                ),
            )
            for comment in found.comments:
                by_post[comment.post_id].append(comment)
        return api_pb2.ListPostViewsResponse(
            views=[api_pb2.PostView(post=p, comments=by_post[p.id]) for p in posts.posts],
            next_page_token=posts.next_page_token,
        )


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    posts_channel = aio_channel(settings.posts_addr)
    comments_channel = aio_channel(settings.comments_addr)
    assembly.cleanups += [posts_channel.close, comments_channel.close]
    servicer = QueryServicer(
        api_pb2_grpc.PostServiceStub(posts_channel),
        api_pb2_grpc.CommentServiceStub(comments_channel),
        internal_pb2_grpc.CommentIndexServiceStub(comments_channel),
        settings.call_timeout_ms / 1000,
    )
    assembly.registrations.append(
        (
            api_pb2_grpc.add_QueryServiceServicer_to_server,
            servicer,
            service_name(api_pb2, "QueryService"),
        )
    )


def main(argv: list[str] | None = None) -> None:
    run("sync-query", "query", ["posts_addr", "comments_addr"], assemble, argv)


if __name__ == "__main__":
    main()
