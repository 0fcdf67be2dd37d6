"""A client of the public API built from stack.json alone (what any outside client would use)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from blog.rpc.channels import sync_channel
from blog.v1 import api_pb2_grpc
from lab.stack.stackfile import StackInfo, load_stack_file


@dataclass
class BlogClient:
    """Stubs for PostService, CommentService and QueryService, one channel each."""

    posts: api_pb2_grpc.PostServiceStub
    comments: api_pb2_grpc.CommentServiceStub
    query: api_pb2_grpc.QueryServiceStub
    channels: list[grpc.Channel]

    @classmethod
    def from_stack(cls, stack: StackInfo) -> BlogClient:
        channels = [sync_channel(stack["services"][s]) for s in ("posts", "comments", "query")]
        return cls(
            api_pb2_grpc.PostServiceStub(channels[0]),
            api_pb2_grpc.CommentServiceStub(channels[1]),
            api_pb2_grpc.QueryServiceStub(channels[2]),
            channels,
        )

    @classmethod
    def from_stack_file(cls, path: Path) -> BlogClient:
        return cls.from_stack(load_stack_file(path))

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
