"""Scenarios: weighted mixes of the public operations, the same for both implementations.

Operations use the blocking gRPC stubs (under Locust they run on gevent). Every operation but
ReadYourWrites is one call, planned apart from how it is made (`CALLS`: the asyncio generator
awaits the same plans on grpc.aio channels). Each returns an Outcome (what it did: the request
id it sent, the id acknowledged, the post it was about) and raises grpc.RpcError on failure; the
caller times it. Before its call an operation puts what it is about to send in `ctx.sent`, so a
failed write's request id is known too.

Operations pick posts from the seeded ones; in the `chaos` scenario (Context.from_recent) they
pick from the posts this generator process created most recently instead, so that a comment on
a post created during a fault shows how the implementation catches up.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message

from blog.v1 import api_pb2, api_pb2_grpc

TIMEOUT_S = 5.0
BLOCKED_SHARE = 0.1  # share of comments that contain a blocklisted word
RECENT_POSTS = 20  # from_recent: a random one of the last RECENT_POSTS posts created
READ_AGE_S = 1.0  # from_recent: reads pick posts acknowledged at least this long ago
TOKENS_KEPT = 1000

# CreatePost's consistency token of each post this process created (newest last, bounded): a
# comment on one carries it, as a client that just created the post would (the async `wait`
# policy waits for it; other policies and sync ignore it; docs/METHOD.md, Causality).
_TOKENS: dict[str, str] = {}


def remember_token(post: api_pb2.Post) -> None:
    _TOKENS[post.id] = post.consistency_token
    if len(_TOKENS) > TOKENS_KEPT:
        del _TOKENS[next(iter(_TOKENS))]


def token_of(post_id: str) -> str:
    return _TOKENS.get(post_id, "")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an operation did (empty strings where not applicable)."""

    request_id: str = ""  # writes: the idempotency key sent
    id: str = ""  # writes: the id acknowledged
    post_id: str = ""  # the post a comment was written on, or a read was about
    partial: bool = False  # reads: the server marked its answer partial (see `is_partial`)


NOTHING = Outcome()


def is_partial(view: api_pb2.PostView) -> bool:
    """Did the server answer this view partially (the post without its comments)? A server
    that predates the field leaves it unset: complete (docs/METHOD.md, Resilience)."""
    return view.completeness == api_pb2.VIEW_WITHOUT_COMMENTS


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
    # The posts created (CreatePost) with when each was acknowledged (time.monotonic()), newest
    # last; share one deque to share them between users.
    created: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=RECENT_POSTS))
    from_recent: bool = False  # pick posts from `created` (the seeded ones while it is empty)
    sent: Outcome = NOTHING  # what the current operation sent (set before its call)

    def any_post(self, min_age_s: float = 0.0) -> str:
        """A post to write on or read: with from_recent, a recent one acknowledged at least
        `min_age_s` ago (reads wait READ_AGE_S, so that an async view that lags by a few
        milliseconds is not taken for an outage); else, or while there is none, a seeded one."""
        if self.from_recent and self.created:
            now = time.monotonic()
            old_enough = [post_id for post_id, at in self.created if now - at >= min_age_s]
            if old_enough:
                return self.rng.choice(old_enough)
        return self.rng.choice(self.post_ids)


@dataclass(frozen=True, slots=True)
class Call:
    """One operation's gRPC call, apart from how it is made: `method` is a stub's method (a
    blocking one, or an awaitable one on a grpc.aio channel), `done` reads its reply into the
    Outcome. The blocking generator (Locust) and the asyncio one (benchmarks/load/aio_generator.py)
    make the same calls from these plans."""

    method: Callable[..., Any]
    request: Message
    done: Callable[[Any], Outcome]


def plan_create_post(ctx: Context) -> Call:
    request = api_pb2.CreatePostRequest(
        title=f"bench {ctx.rng.randrange(10**9)}", body="x" * 200, request_id=str(uuid.uuid4())
    )
    ctx.sent = Outcome(request_id=request.request_id)

    def done(post: api_pb2.Post) -> Outcome:
        remember_token(post)
        ctx.created.append((post.id, time.monotonic()))
        return Outcome(request_id=request.request_id, id=post.id)

    return Call(ctx.stubs.posts.CreatePost, request, done)


def comment_text(ctx: Context) -> str:
    if ctx.rng.random() < BLOCKED_SHARE:
        return "cheap orange phones here"
    return "a thoughtful comment " + str(ctx.rng.randrange(10**6))


def plan_create_comment(ctx: Context) -> Call:
    post_id = ctx.any_post()
    request = api_pb2.CreateCommentRequest(
        post_id=post_id,
        content=comment_text(ctx),
        request_id=str(uuid.uuid4()),
        consistency_token=token_of(post_id),
    )
    ctx.sent = Outcome(request_id=request.request_id, post_id=request.post_id)
    return Call(
        ctx.stubs.comments.CreateComment,
        request,
        lambda comment: Outcome(
            request_id=request.request_id, id=comment.id, post_id=request.post_id
        ),
    )


def plan_get_post_view(ctx: Context) -> Call:
    request = api_pb2.GetPostViewRequest(post_id=ctx.any_post(READ_AGE_S))
    ctx.sent = Outcome(post_id=request.post_id)
    return Call(
        ctx.stubs.query.GetPostView,
        request,
        lambda view: Outcome(post_id=request.post_id, partial=is_partial(view)),
    )


def plan_list_post_views(ctx: Context) -> Call:
    return Call(
        ctx.stubs.query.ListPostViews,
        api_pb2.ListPostViewsRequest(page_size=10),
        lambda page: Outcome(partial=any(is_partial(view) for view in page.views)),
    )


def plan_get_post(ctx: Context) -> Call:
    request = api_pb2.GetPostRequest(id=ctx.any_post(READ_AGE_S))
    sent = ctx.sent = Outcome(post_id=request.id)
    return Call(ctx.stubs.posts.GetPost, request, lambda _: sent)


def plan_list_comments(ctx: Context) -> Call:
    request = api_pb2.ListCommentsRequest(post_id=ctx.any_post(READ_AGE_S))
    sent = ctx.sent = Outcome(post_id=request.post_id)
    return Call(ctx.stubs.comments.ListComments, request, lambda _: sent)


# The operations that are one call each, as plans (every scenario but read_your_writes).
CALLS: dict[str, Callable[[Context], Call]] = {
    "CreatePost": plan_create_post,
    "CreateComment": plan_create_comment,
    "GetPostView": plan_get_post_view,
    "ListPostViews": plan_list_post_views,
    "GetPost": plan_get_post,
    "ListComments": plan_list_comments,
}


def blocking(plan: Callable[[Context], Call]) -> Callable[[Context], Outcome]:
    """The operation that makes `plan`'s call with a blocking stub."""

    def operation(ctx: Context) -> Outcome:
        call = plan(ctx)
        return call.done(call.method(call.request, timeout=TIMEOUT_S))

    operation.__name__ = plan.__name__.removeprefix("plan_")
    return operation


create_post = blocking(plan_create_post)
create_comment = blocking(plan_create_comment)
get_post_view = blocking(plan_get_post_view)
list_post_views = blocking(plan_list_post_views)
get_post = blocking(plan_get_post)
list_comments = blocking(plan_list_comments)


def _until(check: Callable[[], bool], limit_s: float = 5.0, pause_s: float = 0.002) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(pause_s)
    return False


def read_your_writes(ctx: Context) -> Outcome:
    """Create a post, read it back through the query service; comment on it, read the comment's
    final status back. Records how long each write took to become visible (from its ack).
    Its Outcome is the post's: request id, id, and post_id."""
    stubs = ctx.stubs
    post_request = api_pb2.CreatePostRequest(
        title="ryw", body="probe", request_id=str(uuid.uuid4())
    )
    ctx.sent = Outcome(request_id=post_request.request_id)
    post = stubs.posts.CreatePost(post_request, timeout=TIMEOUT_S)
    acked = time.monotonic()
    ctx.sent = Outcome(request_id=post_request.request_id, id=post.id, post_id=post.id)

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
        post_id=post.id,
        content=comment_text(ctx),
        request_id=str(uuid.uuid4()),
        consistency_token=post.consistency_token,
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
    return ctx.sent


def seed_posts(stubs: Stubs, count: int, limit_s: float = 30.0) -> tuple[list[str], bool]:
    """Create `count` posts through the public API (with request ids), then wait, bounded by
    limit_s, until the comments service knows each one (a comment on it is accepted: one comment
    per post, retried with the same request id while refused NOT_FOUND) and the query service
    shows it. Both hold at once for sync; async learns posts from events. Returns the ids and
    whether every post became known within the limit (the ids are usable either way)."""
    ids = []
    for i in range(count):
        request = api_pb2.CreatePostRequest(
            title=f"generator seed {i}", body="seed " * 40, request_id=str(uuid.uuid4())
        )
        ids.append(stubs.posts.CreatePost(request, timeout=TIMEOUT_S).id)
    deadline = time.monotonic() + limit_s

    def until_known(method: Callable[..., object], request: object) -> bool:
        while True:
            try:
                method(request, timeout=TIMEOUT_S)
                return True
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    for post_id in ids:
        comment = api_pb2.CreateCommentRequest(
            post_id=post_id, content="seed comment", request_id=str(uuid.uuid4())
        )
        view = api_pb2.GetPostViewRequest(post_id=post_id)
        if not until_known(stubs.comments.CreateComment, comment):
            return ids, False
        if not until_known(stubs.query.GetPostView, view):
            return ids, False
    return ids, True


OPERATIONS: dict[str, Callable[[Context], Outcome]] = {
    "CreatePost": create_post,
    "CreateComment": create_comment,
    "GetPostView": get_post_view,
    "ListPostViews": list_post_views,
    "GetPost": get_post,
    "ListComments": list_comments,
    "ReadYourWrites": read_your_writes,
}

SCENARIOS: dict[str, dict[str, int]] = {
    "read_heavy": {"GetPostView": 70, "ListPostViews": 20, "CreateComment": 5, "CreatePost": 5},
    "write_heavy": {"CreatePost": 40, "CreateComment": 50, "GetPostView": 10},
    "mixed": {"CreatePost": 15, "CreateComment": 25, "GetPostView": 45, "ListPostViews": 15},
    "read_your_writes": {"ReadYourWrites": 1},
    # For chaos experiments: every read and comment is about a post this process created lately.
    "chaos": {
        "CreatePost": 20,
        "GetPost": 15,
        "CreateComment": 20,
        "ListComments": 15,
        "GetPostView": 20,
        "ListPostViews": 10,
    },
}
# Scenarios whose operations pick posts from the recently created ones (Context.from_recent).
FROM_RECENT = frozenset({"chaos"})


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
