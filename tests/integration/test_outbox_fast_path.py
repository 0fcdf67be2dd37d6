"""With the bus up, every event takes the outbox's fast path, even when its client gives up
(docs/METHOD.md, The outbox: events that miss the fast path): clients cancel CreatePost and
CreateComment calls a few milliseconds after sending them, as a load generator does to its
requests in flight when it stops. Before the fix about half of those whose write had committed
waited for the relay's sweep (1 s grace + its interval); now the sweep finds nothing and every
committed write is visible at once."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest

from blog.rpc.channels import aio_channel
from blog.rpc.metrics import fetch as fetch_metrics
from blog.v1 import api_pb2, api_pb2_grpc
from lab.stack.runner import Stack
from tests.helpers import Api, comment_on, start_stack

CALLS = 80
SWEEP_GRACE_S = 1.0  # async_impl.relay.OutboxRelay's default


@pytest.fixture(scope="module")
def astack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack("async", tmp_path_factory.mktemp("async-outbox"))
    try:
        yield stack
    finally:
        stack.stop()


def counters(address: str) -> dict[str, int]:
    return dict(fetch_metrics(address).counters)


async def cancelled_writes(stack: Stack, post: api_pb2.Post) -> list[tuple[str, str]]:
    """Send CALLS CreatePost and CALLS CreateComment, each cancelled 0-3 ms after it was sent;
    returns (operation, request_id) of every call that was cancelled."""
    services = stack.describe()["services"]
    posts_channel, comments_channel = (
        aio_channel(services["posts"]),
        aio_channel(services["comments"]),
    )
    posts = api_pb2_grpc.PostServiceStub(posts_channel)
    comments = api_pb2_grpc.CommentServiceStub(comments_channel)
    rng = random.Random(27)
    cancelled = []
    try:
        for i in range(2 * CALLS):
            request_id = str(uuid.uuid4())
            call: grpc.aio.UnaryUnaryCall
            if i % 2:
                request = api_pb2.CreateCommentRequest(
                    post_id=post.id, content="gone", request_id=request_id
                )
                call, op = comments.CreateComment(request, timeout=5), "CreateComment"
            else:
                request = api_pb2.CreatePostRequest(title="gone", body="", request_id=request_id)
                call, op = posts.CreatePost(request, timeout=5), "CreatePost"
            await asyncio.sleep(rng.uniform(0, 0.003))
            if call.cancel():
                cancelled.append((op, request_id))
            else:
                await call
    finally:
        await posts_channel.close()
        await comments_channel.close()
    return cancelled


def test_cancelled_writes_that_committed_take_the_fast_path(astack: Stack) -> None:
    api = Api.from_stack_file(astack.stack_file)
    services = astack.describe()["services"]
    try:
        post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="p", body=""), timeout=5)
        comment_on(api, post.id, "the comments service knows the post now")
        before = {s: counters(services[s][0]) for s in ("posts", "comments")}
        cancelled = asyncio.run(cancelled_writes(astack, post))
        assert len(cancelled) > CALLS  # most calls were cancelled before their answer
        time.sleep(SWEEP_GRACE_S + 2.0)  # anything left in an outbox is swept by now
        after = {s: counters(services[s][0]) for s in ("posts", "comments")}
        for service in ("posts", "comments"):
            swept = after[service].get("events_swept", 0) - before[service].get("events_swept", 0)
            missed = after[service].get("events_swept_bus_up", 0)
            assert (swept, missed) == (0, 0), (service, after[service])
    finally:
        api.close()
