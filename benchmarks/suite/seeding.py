"""Before measuring: seed posts and comments, and (async) wait until the services have applied
every event, so calibration and the runs do not compete with a backlog."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import grpc

from blog.v1 import api_pb2
from lab.stack.client import BlogClient
from lab.stack.stackfile import StackInfo, bus_urls
from lab.stack.topology import SERVICES


def seed(stack: StackInfo, posts: int, rng: random.Random) -> list[str]:
    """Create posts with a few comments each; wait until the query service shows them all."""
    client = BlogClient.from_stack(stack)
    try:
        ids, deadline = _seed(client, posts, rng)
    finally:
        client.close()
    if "bus" in stack:
        wait_quiet(stack, timeout_s=max(0.0, deadline - time.monotonic()) + 30)
    return ids


def _seed(client: BlogClient, posts: int, rng: random.Random) -> tuple[list[str], float]:
    posts_stub, comments_stub, query_stub = client.posts, client.comments, client.query
    ids = []
    for i in range(posts):
        post = posts_stub.CreatePost(
            api_pb2.CreatePostRequest(title=f"seed {i}", body="seed " * 40), timeout=10
        )
        ids.append(post.id)
    deadline = time.monotonic() + 60
    for post_id in ids:
        for _ in range(rng.randrange(4)):
            request = api_pb2.CreateCommentRequest(
                post_id=post_id, content="seed comment", request_id=str(uuid.uuid4())
            )
            while True:  # async: the comments service may not know the post yet
                try:
                    comments_stub.CreateComment(request, timeout=10)
                    break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
    for post_id in ids:  # async: visible in the read model before the run starts
        while True:
            try:
                query_stub.GetPostView(api_pb2.GetPostViewRequest(post_id=post_id), timeout=10)
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    return ids, deadline


def wait_quiet(stack: StackInfo, timeout_s: float) -> None:
    """Async: wait until every consumer has applied every event (the seed's moderation,
    updates and copies), so calibration and the runs do not compete with a backlog; the
    consumers of a bare chain running beside the stack too (benchmarks/floor/bare_background)."""
    import nats

    from async_impl.admin import wait_caught_up
    from async_impl.subscriptions import SUBSCRIPTIONS
    from benchmarks.floor.bare_background import caught_up as bare_caught_up

    consumers = [service for service in SERVICES if SUBSCRIPTIONS[service].consumes]

    async def all_caught_up() -> bool:
        nc = await nats.connect(bus_urls(stack))
        try:
            js = nc.jetstream()
            for _ in range(3):  # a consumer's work produces events for the next one
                for consumer in consumers:
                    if not await wait_caught_up(js, consumer, timeout_s):
                        return False
                await asyncio.sleep(0.5)
            return await bare_caught_up(js, timeout_s)
        finally:
            await nc.close()

    if not asyncio.run(all_caught_up()):
        raise RuntimeError(f"the async stack did not process the seed within {timeout_s:.0f}s")
