"""The part of CommentService both implementations share: reading a post's comments."""

from __future__ import annotations

import grpc

from blog.v1 import api_pb2, api_pb2_grpc
from lab import handlers
from lab.convert import comment_to_pb
from lab.db import Database
from lab.rpc import Registration, rpc_method, service_name


class CommentReads(api_pb2_grpc.CommentServiceServicer):
    """ListComments from the comments service's own database; subclasses add CreateComment."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @rpc_method
    async def ListComments(
        self, request: api_pb2.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListCommentsResponse:
        comments = await handlers.list_comments(self.db, [request.post_id])
        return api_pb2.ListCommentsResponse(comments=[comment_to_pb(c) for c in comments])


def registration(servicer: CommentReads) -> Registration:
    return (
        api_pb2_grpc.add_CommentServiceServicer_to_server,
        servicer,
        service_name(api_pb2, "CommentService"),
    )
