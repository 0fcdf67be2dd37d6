"""Helpers the contract and integration tests import: the API client, bounded retries, stacks.

Fixtures and hooks stay in tests/conftest.py (pytest loads it by itself; tests never import it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from blog.v1 import api_pb2
from lab.stack.client import BlogClient
from lab.stack.config import StackConfig, StackOptions
from lab.stack.runner import Stack

# The implementations the contract suite runs against, unchanged for each (sync-resilient:
# the same API, the patterns change nothing a client sees while everything is up).
IMPLS = ["sync", "sync-resilient", "async"]

T = TypeVar("T")


# The tests' client of the public API: only protos and stack.json, like any outside client.
Api = BlogClient


class NotYet(AssertionError):
    """Raised inside `eventually` blocks: the condition does not hold yet."""


def eventually(check: Callable[[], T], timeout_s: float = 15.0) -> T:
    """Retry `check` (bounded, with backoff) until it stops raising NotYet/AssertionError."""
    wrapped = retry(
        retry=retry_if_exception_type(AssertionError),
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    )(check)
    return wrapped()


def comment_on(api: Api, post_id: str, content: str, timeout_s: float = 15.0) -> api_pb2.Comment:
    """CreateComment, retried while the comments service has not heard of the post yet (async).
    The same request_id throughout, so a retry can never create a second comment."""
    request = api_pb2.CreateCommentRequest(
        post_id=post_id, content=content, request_id=str(uuid.uuid4())
    )

    def attempt() -> api_pb2.Comment:
        try:
            return api.comments.CreateComment(request, timeout=5)
        except grpc.RpcError as error:
            assert error.code() != grpc.StatusCode.NOT_FOUND, "post not known yet"
            raise

    return eventually(attempt, timeout_s)


# policy_stacks(impl, **StackConfig fields) -> a running stack with those settings (conftest).
PolicyStacks = Callable[..., Stack]

# The async stack every causality test under `accept` shares: a short bound so the REJECTED
# path is quick, two comments replicas so holding and releasing meet across processes.
ACCEPT_STACK: dict[str, object] = {
    "causality": "accept",
    "causality_accept_s": 1.0,
    "replicas": {"comments": 2},
}


def start_stack(impl: str, data_dir: Path, **options: Any) -> Stack:
    """A started stack of `impl` with these StackOptions fields."""
    stack = Stack(StackConfig(impl, data_dir, StackOptions(**options), fresh=True))
    stack.start()
    return stack
