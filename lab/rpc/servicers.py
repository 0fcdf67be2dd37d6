"""PostService over gRPC: the same servicer in both implementations (posts calls nobody)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from blog.v1 import api_pb2, api_pb2_grpc
from lab import handlers
from lab.convert import post_to_pb
from lab.db import Database
from lab.domain import NewPost
from lab.events import OutgoingEvent
from lab.paging import PageRequest
from lab.rpc import Registration, rpc_method, service_name


class PostServicer(api_pb2_grpc.PostServiceServicer):
    """with_events: queue PostCreated in the outbox, then hand it to `on_commit` (the relay)."""

    def __init__(
        self,
        db: Database,
        *,
        with_events: bool = False,
        on_commit: Callable[[list[OutgoingEvent]], None] = lambda events: None,
    ) -> None:
        self.db = db
        self.with_events = with_events
        self.on_commit = on_commit

    @rpc_method
    async def CreatePost(
        self, request: api_pb2.CreatePostRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Post:
        new = NewPost.parse(request.title, request.body, request.request_id)
        post, event = await handlers.create_post(self.db, new, with_event=self.with_events)
        if event is not None:
            self.on_commit([event])
        return post_to_pb(post)

    @rpc_method
    async def GetPost(
        self, request: api_pb2.GetPostRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Post:
        return post_to_pb(await handlers.get_post(self.db, request.id))

    @rpc_method
    async def ListPosts(
        self, request: api_pb2.ListPostsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListPostsResponse:
        page = PageRequest.parse(request.page_size, request.page_token)
        posts, token = await handlers.list_posts(self.db, page)
        return api_pb2.ListPostsResponse(
            posts=[post_to_pb(p) for p in posts], next_page_token=token
        )


def registration(servicer: PostServicer) -> Registration:
    return (
        api_pb2_grpc.add_PostServiceServicer_to_server,
        servicer,
        service_name(api_pb2, "PostService"),
    )
