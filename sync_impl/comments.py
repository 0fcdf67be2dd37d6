"""sync comments service: before storing a comment it asks posts (does the post exist?) and
moderation (what status?), concurrently, and answers with the final status."""

from __future__ import annotations

import asyncio
from typing import Protocol

import grpc

from blog.v1 import api_pb2, api_pb2_grpc, internal_pb2, internal_pb2_grpc
from lab import comments_service, handlers
from lab.comments_service import CommentReads
from lab.config import ServiceSettings
from lab.convert import comment_to_pb
from lab.db import Database
from lab.domain import Comment, CommentStatus, Decision, NewComment, NotFound
from lab.repositories import CommentRepository
from lab.rpc import aio_channel, call_peer, remaining_timeout, rpc_method, service_name
from lab.service import Wiring, open_database, run


class PostDirectory(Protocol):
    """Port: does a post exist? (sync: a GetPost call to the posts service)"""

    async def exists(self, post_id: str) -> bool: ...


class ModerationPort(Protocol):
    """Port: the moderation decision for a comment (sync: a Moderate call)."""

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision: ...


async def create_comment(
    db: Database, new: NewComment, posts: PostDirectory, moderation: ModerationPort
) -> Comment:
    """Store a comment with its final status, if its post exists (idempotent per request_id)."""
    comment_id = handlers.new_id()
    # The two checks are independent: run them concurrently, so the request pays one hop, not
    # two. A TaskGroup cancels the other call as soon as one fails.
    async with asyncio.TaskGroup() as group:
        exists = group.create_task(posts.exists(new.post_id))
        decision = group.create_task(moderation.moderate(comment_id, new.post_id, new.content))
    if not exists.result():
        raise NotFound(f"post {new.post_id} not found")
    comment = Comment(
        comment_id, new.post_id, new.content, decision.result().status, handlers.now()
    )
    async with db.connect() as conn:
        stored, _ = await CommentRepository(conn).add(comment, new.request_id)
    assert stored is not None  # without only_for_known_post an insert or a match is certain
    return stored


class GrpcPostDirectory:
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
    def __init__(self, stub: internal_pb2_grpc.ModerationServiceStub, timeout_s: float) -> None:
        self.stub, self.timeout_s = stub, timeout_s

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        request = internal_pb2.ModerateRequest(
            comment_id=comment_id, post_id=post_id, content=content
        )
        reply = await call_peer("moderation", self.stub.Moderate(request, timeout=self.timeout_s))
        return Decision(CommentStatus(reply.status), reply.reason)


class CommentServicer(CommentReads):
    def __init__(
        self,
        db: Database,
        posts: api_pb2_grpc.PostServiceStub,
        moderation: internal_pb2_grpc.ModerationServiceStub,
        call_timeout_s: float,
    ) -> None:
        super().__init__(db)
        self.posts = posts
        self.moderation = moderation
        self.call_timeout_s = call_timeout_s

    @rpc_method
    async def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Comment:
        new = NewComment.parse(request.post_id, request.content, request.request_id)
        timeout = remaining_timeout(context, self.call_timeout_s)
        comment = await create_comment(
            self.db,
            new,
            GrpcPostDirectory(self.posts, timeout),
            GrpcModeration(self.moderation, timeout),
        )
        return comment_to_pb(comment)


class CommentIndexServicer(internal_pb2_grpc.CommentIndexServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    @rpc_method
    async def ListCommentsForPosts(
        self, request: internal_pb2.ListCommentsForPostsRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.ListCommentsForPostsResponse:
        comments = await handlers.list_comments(self.db, list(request.post_ids))
        return internal_pb2.ListCommentsForPostsResponse(
            comments=[comment_to_pb(c) for c in comments]
        )


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    db = await open_database("comments", settings, wiring)
    posts_channel = aio_channel(settings.posts_addr)
    moderation_channel = aio_channel(settings.moderation_addr)
    wiring.cleanups += [posts_channel.close, moderation_channel.close]
    servicer = CommentServicer(
        db,
        api_pb2_grpc.PostServiceStub(posts_channel),
        internal_pb2_grpc.ModerationServiceStub(moderation_channel),
        settings.call_timeout_ms / 1000,
    )
    wiring.registrations += [
        comments_service.registration(servicer),
        (
            internal_pb2_grpc.add_CommentIndexServiceServicer_to_server,
            CommentIndexServicer(db),
            service_name(internal_pb2, "CommentIndexService"),
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    run("sync-comments", "comments", ["dsn", "posts_addr", "moderation_addr"], build, argv)


if __name__ == "__main__":
    main()
