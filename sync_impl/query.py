"""sync query service: owns no data; builds each view at request time from the posts and comments
services (sync_impl.peers.GrpcPostViews behind the shared QueryServicer; sync-resilient:
sync_impl.resilience.fallbacks.PartialPostViews, the post without its comments when comments
is unavailable)."""

from __future__ import annotations

import grpc

from blog.ports import PostViewReader
from blog.rpc import servicers
from blog.rpc.channels import aio_channel
from blog.rpc.errors import remaining_timeout
from blog.rpc.process import Assembly, run
from blog.rpc.settings import ServiceSettings
from blog.v1 import api_pb2_grpc, internal_pb2_grpc
from sync_impl.resilience import adapters_for


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    adapters = adapters_for(settings, assembly)
    posts_channel = aio_channel(settings.posts_addr)
    comments_channel = aio_channel(settings.comments_addr)
    assembly.cleanups += [posts_channel.close, comments_channel.close]
    posts = api_pb2_grpc.PostServiceStub(posts_channel)
    comments = api_pb2_grpc.CommentServiceStub(comments_channel)
    comment_index = internal_pb2_grpc.CommentIndexServiceStub(comments_channel)
    call_timeout_s = settings.call_timeout_ms / 1000

    def views(context: grpc.aio.ServicerContext) -> PostViewReader:
        return adapters.post_views(
            posts, comments, comment_index, lambda: remaining_timeout(context, call_timeout_s)
        )

    assembly.registrations.append(servicers.query_service(servicers.QueryServicer(views)))


def main(argv: list[str] | None = None) -> None:
    run("sync-query", "query", ["posts_addr", "comments_addr"], assemble, argv)


if __name__ == "__main__":
    main()
