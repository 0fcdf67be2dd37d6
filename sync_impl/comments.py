"""sync comments service: before storing a comment it asks posts (does the post exist?) and
moderation (what status?), concurrently, and answers with the final status."""

from __future__ import annotations

import grpc

from blog import features
from blog.convert import comment_to_pb
from blog.domain import ConsistencyToken, NewComment
from blog.rpc import servicers
from blog.rpc.channels import aio_channel
from blog.rpc.errors import remaining_timeout, rpc_method
from blog.rpc.process import Assembly, open_database, run
from blog.rpc.server import service_name
from blog.rpc.settings import ServiceSettings
from blog.store.repositories import CommentRepository
from blog.v1 import api_pb2, api_pb2_grpc, internal_pb2, internal_pb2_grpc
from sync_impl.peers import Adapters
from sync_impl.resilience import adapters_for


class CommentServicer(servicers.CommentReads):
    def __init__(
        self,
        comments: CommentRepository,
        posts: api_pb2_grpc.PostServiceStub,
        moderation: internal_pb2_grpc.ModerationServiceStub,
        call_timeout_s: float,
        adapters: Adapters | None = None,
    ) -> None:
        super().__init__(comments)
        self.store = comments
        self.posts = posts
        self.moderation = moderation
        self.call_timeout_s = call_timeout_s
        self.adapters = adapters or Adapters()

    @rpc_method
    async def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Comment:
        new = NewComment.parse(request.post_id, request.content, request.request_id)
        # Sync asks the posts service itself, at request time: a token adds nothing, but a
        # malformed one is refused as in async, so a client behaves the same on both.
        ConsistencyToken.decode(request.consistency_token)
        timeout = remaining_timeout(context, self.call_timeout_s)
        comment, _ = await features.create_comment(
            self.store,
            new,
            self.adapters.moderation(self.moderation, timeout),
            self.adapters.post_directory(self.posts, timeout),
        )
        return comment_to_pb(comment)


class CommentIndexServicer(internal_pb2_grpc.CommentIndexServiceServicer):
    """The comments of a whole page of posts in one call (for the sync query service)."""

    def __init__(self, comments: CommentRepository) -> None:
        self.comments = comments

    @rpc_method
    async def ListCommentsForPosts(
        self, request: internal_pb2.ListCommentsForPostsRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.ListCommentsForPostsResponse:
        comments = await features.list_comments(self.comments, list(request.post_ids))
        return internal_pb2.ListCommentsForPostsResponse(
            comments=[comment_to_pb(c) for c in comments]
        )


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    adapters = adapters_for(settings, assembly)
    database = await open_database(settings, assembly)
    comments = CommentRepository(database)
    posts_channel = aio_channel(settings.posts_addr)
    moderation_channel = aio_channel(settings.moderation_addr)
    assembly.cleanups += [posts_channel.close, moderation_channel.close]
    servicer = CommentServicer(
        comments,
        api_pb2_grpc.PostServiceStub(posts_channel),
        internal_pb2_grpc.ModerationServiceStub(moderation_channel),
        settings.call_timeout_ms / 1000,
        adapters,
    )
    assembly.registrations += [
        servicers.comment_service(servicer),
        (
            internal_pb2_grpc.add_CommentIndexServiceServicer_to_server,
            CommentIndexServicer(comments),
            service_name(internal_pb2, "CommentIndexService"),
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    run("sync-comments", "comments", ["dsn", "posts_addr", "moderation_addr"], assemble, argv)


if __name__ == "__main__":
    main()
