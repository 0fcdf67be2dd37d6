"""Servicers both implementations share: PostService (posts calls nobody in either), the reading
half of CommentService and QueryService (over a PostViewReader: sync's asks the posts and
comments services, async's reads the read model). Each translates protobuf <-> a feature call,
nothing more."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from blog import features
from blog.convert import comment_to_pb, post_to_pb, view_to_pb
from blog.domain import ConsistencyToken, NewPost
from blog.paging import PageRequest
from blog.ports import CommentReader, PostStore, PostViewReader
from blog.rpc.errors import rpc_method
from blog.rpc.server import Registration, service_name
from blog.v1 import api_pb2, api_pb2_grpc


class PostServicer(api_pb2_grpc.PostServiceServicer):
    """PostService on a post store. `store()` gives the store of one request (async: one that
    also queues PostCreated in the outbox and hands it to the relay as it commits)."""

    def __init__(self, store: Callable[[], PostStore]) -> None:
        self.store = store

    @rpc_method
    async def CreatePost(
        self, request: api_pb2.CreatePostRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Post:
        new = NewPost.parse(request.title, request.body, request.request_id)
        post, _ = await features.create_post(self.store(), new)
        reply = post_to_pb(post)
        # What a client must hand CreateComment to comment at once under the async `wait`
        # policy; the same for a retried request (it names the same post).
        reply.consistency_token = ConsistencyToken(post.id).encode()
        return reply

    @rpc_method
    async def GetPost(
        self, request: api_pb2.GetPostRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.Post:
        return post_to_pb(await features.get_post(self.store(), request.id))

    @rpc_method
    async def ListPosts(
        self, request: api_pb2.ListPostsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListPostsResponse:
        page = PageRequest.parse(request.page_size, request.page_token)
        posts, token = await features.list_posts(self.store(), page)
        return api_pb2.ListPostsResponse(
            posts=[post_to_pb(p) for p in posts], next_page_token=token
        )


class CommentReads(api_pb2_grpc.CommentServiceServicer):
    """ListComments from the comments service's own database; subclasses add CreateComment."""

    def __init__(self, comments: CommentReader) -> None:
        self.comments = comments

    @rpc_method
    async def ListComments(
        self, request: api_pb2.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListCommentsResponse:
        comments = await features.list_comments(self.comments, [request.post_id])
        return api_pb2.ListCommentsResponse(comments=[comment_to_pb(c) for c in comments])


class QueryServicer(api_pb2_grpc.QueryServiceServicer):
    """QueryService on the PostViewReader `views(context)` gives for one request (sync: peer
    calls within that request's deadline; async: the read model)."""

    def __init__(self, views: Callable[[grpc.aio.ServicerContext], PostViewReader]) -> None:
        self.views = views

    @rpc_method
    async def GetPostView(
        self, request: api_pb2.GetPostViewRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.PostView:
        return view_to_pb(await features.get_post_view(self.views(context), request.post_id))

    @rpc_method
    async def ListPostViews(
        self, request: api_pb2.ListPostViewsRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListPostViewsResponse:
        page = PageRequest.parse(request.page_size, request.page_token)  # before any call
        views, token = await features.list_post_views(self.views(context), page)
        return api_pb2.ListPostViewsResponse(
            views=[view_to_pb(v) for v in views], next_page_token=token
        )


def post_service(servicer: PostServicer) -> Registration:
    return (
        api_pb2_grpc.add_PostServiceServicer_to_server,
        servicer,
        service_name(api_pb2, "PostService"),
    )


def comment_service(servicer: CommentReads) -> Registration:
    return (
        api_pb2_grpc.add_CommentServiceServicer_to_server,
        servicer,
        service_name(api_pb2, "CommentService"),
    )


def query_service(servicer: QueryServicer) -> Registration:
    return (
        api_pb2_grpc.add_QueryServiceServicer_to_server,
        servicer,
        service_name(api_pb2, "QueryService"),
    )
