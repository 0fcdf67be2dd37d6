"""gRPC adapters for the ports the comment rule needs: the posts service answers whether a post
exists, the moderation service decides (both at request time, within the caller's deadline)."""

from __future__ import annotations

from blog.domain import CommentStatus, Decision, NotFound
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
