"""Scenarios: weighted mixes of the public operations, the same for both implementations.

Operations use the blocking gRPC stubs (under Locust they run on gevent). Each returns nothing
and raises grpc.RpcError on failure; the caller times it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from blog.v1 import api_pb2, api_pb2_grpc

TIMEOUT_S = 5.0
BLOCKED_SHARE = 0.1  # share of comments that contain a blocklisted word


@dataclass
class Stubs:
    posts: api_pb2_grpc.PostServiceStub
    comments: api_pb2_grpc.CommentServiceStub
    query: api_pb2_grpc.QueryServiceStub


@dataclass
class Context:
    """What operations share within one generator process."""

    stubs: Stubs
    post_ids: list[str]  # seeded before the run, visible everywhere
    rng: random.Random
    extra: Callable[[str, float], None] = lambda name, value_us: None  # extra histograms
    count: Callable[[str], None] = lambda name: None  # extra counters
    created: list[str] = field(default_factory=list)

    def any_post(self) -> str:
        return self.rng.choice(self.post_ids)


def create_post(ctx: Context) -> None:
    request = api_pb2.CreatePostRequest(
        title=f"bench {ctx.rng.randrange(10**9)}", body="x" * 200, request_id=str(uuid.uuid4())
    )
    ctx.stubs.posts.CreatePost(request, timeout=TIMEOUT_S)


def comment_text(ctx: Context) -> str:
    if ctx.rng.random() < BLOCKED_SHARE:
        return "cheap orange phones here"
    return "a thoughtful comment " + str(ctx.rng.randrange(10**6))


def create_comment(ctx: Context) -> None:
    request = api_pb2.CreateCommentRequest(
        post_id=ctx.any_post(), content=comment_text(ctx), request_id=str(uuid.uuid4())
    )
    ctx.stubs.comments.CreateComment(request, timeout=TIMEOUT_S)


def get_post_view(ctx: Context) -> None:
    request = api_pb2.GetPostViewRequest(post_id=ctx.any_post())
    ctx.stubs.query.GetPostView(request, timeout=TIMEOUT_S)


def list_post_views(ctx: Context) -> None:
    ctx.stubs.query.ListPostViews(api_pb2.ListPostViewsRequest(page_size=10), timeout=TIMEOUT_S)


def _until(check: Callable[[], bool], limit_s: float = 5.0, pause_s: float = 0.002) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(pause_s)
    return False


def read_your_writes(ctx: Context) -> None:
    """Create a post, read it back through the query service; comment on it, read the comment's
    final status back. Records how long each write took to become visible (from its ack)."""
    stubs = ctx.stubs
    post = stubs.posts.CreatePost(
        api_pb2.CreatePostRequest(title="ryw", body="probe", request_id=str(uuid.uuid4())),
        timeout=TIMEOUT_S,
    )
    acked = time.monotonic()

    def post_visible() -> bool:
        try:
            stubs.query.GetPostView(api_pb2.GetPostViewRequest(post_id=post.id), timeout=TIMEOUT_S)
            return True
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            ctx.count("ryw_stale_reads")
            return False

    if not _until(post_visible):
        ctx.count("ryw_post_never_visible")
        raise TimeoutError("post not visible within 5 s")
    ctx.extra("ryw_post_visible_us", (time.monotonic() - acked) * 1e6)

    request = api_pb2.CreateCommentRequest(
        post_id=post.id, content=comment_text(ctx), request_id=str(uuid.uuid4())
    )
    for _ in range(500):  # the comments service may not know the post yet (async)
        try:
            comment = stubs.comments.CreateComment(request, timeout=TIMEOUT_S)
            break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            ctx.count("ryw_comment_unknown_post")
            time.sleep(0.002)
    else:
        raise TimeoutError("comments never learned the post")
    acked = time.monotonic()

    def comment_final() -> bool:
        view = stubs.query.GetPostView(
            api_pb2.GetPostViewRequest(post_id=post.id), timeout=TIMEOUT_S
        )
        return any(
            c.id == comment.id and c.status in (api_pb2.APPROVED, api_pb2.REJECTED)
            for c in view.comments
        )

    if not _until(comment_final):
        ctx.count("ryw_comment_never_final")
        raise TimeoutError("comment status not final within 5 s")
    ctx.extra("ryw_comment_final_us", (time.monotonic() - acked) * 1e6)


OPERATIONS: dict[str, Callable[[Context], None]] = {
    "CreatePost": create_post,
    "CreateComment": create_comment,
    "GetPostView": get_post_view,
    "ListPostViews": list_post_views,
    "ReadYourWrites": read_your_writes,
}

SCENARIOS: dict[str, dict[str, int]] = {
    "read_heavy": {"GetPostView": 70, "ListPostViews": 20, "CreateComment": 5, "CreatePost": 5},
    "write_heavy": {"CreatePost": 40, "CreateComment": 50, "GetPostView": 10},
    "mixed": {"CreatePost": 15, "CreateComment": 25, "GetPostView": 45, "ListPostViews": 15},
    "read_your_writes": {"ReadYourWrites": 1},
}


class Mix:
    """Draws operations of a scenario by weight (seeded)."""

    def __init__(self, scenario: str, rng: random.Random) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
        self.names = list(SCENARIOS[scenario])
        self.weights = [SCENARIOS[scenario][n] for n in self.names]
        self.rng = rng

    def draw(self) -> str:
        return self.rng.choices(self.names, self.weights)[0]
