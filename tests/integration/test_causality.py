"""The async causality policies on real stacks (docs/METHOD.md, Causality across services):
`accept` holds a comment on an unknown post, releases it when the post becomes known, and
rejects it ("unknown post") after its bound, announcing that; `wait` is woken across replicas
by notifications and turns a token of a post that never existed into NOT_FOUND at its bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import asyncpg
import grpc
import pytest

from blog.domain import ConsistencyToken
from blog.rpc.metrics import decode_histogram
from blog.rpc.metrics import fetch as fetch_metrics
from blog.v1 import api_pb2
from lab.stack.runner import Stack
from tests.helpers import ACCEPT_STACK, Api, PolicyStacks, eventually

TIMEOUT = 5.0
WAIT_BOUND_MS = 1000.0
WAIT_STACK: dict[str, object] = {
    "causality": "wait",
    "causality_wait_ms": WAIT_BOUND_MS,
    "replicas": {"comments": 2},  # the RPC's replica is often not the one that applies the post
}


@pytest.fixture(scope="module")
def accept_stack(policy_stacks: PolicyStacks) -> Stack:
    return policy_stacks("async", **ACCEPT_STACK)


@pytest.fixture(scope="module")
def wait_stack(policy_stacks: PolicyStacks) -> Stack:
    return policy_stacks("async", **WAIT_STACK)


def client(stack: Stack) -> Iterator[Api]:
    api = Api.from_stack_file(stack.stack_file)
    yield api
    api.close()


@pytest.fixture
def accept_api(accept_stack: Stack) -> Iterator[Api]:
    yield from client(accept_stack)


@pytest.fixture
def wait_api(wait_stack: Stack) -> Iterator[Api]:
    yield from client(wait_stack)


def counters(stack: Stack, name: str) -> int:
    return sum(
        int(fetch_metrics(address).counters.get(name, 0))
        for address in stack.describe()["services"]["comments"]
    )


def query_status(stack: Stack, comment_id: str) -> int | None:
    async def run() -> int | None:
        conn = await asyncpg.connect(stack.databases["query"].database.dsn, timeout=5)
        try:
            return await conn.fetchval("SELECT status FROM comment_views WHERE id = $1", comment_id)
        finally:
            await conn.close()

    return asyncio.run(run())


def listed_status(api: Api, post_id: str) -> int:
    reply = api.comments.ListComments(api_pb2.ListCommentsRequest(post_id=post_id), timeout=5)
    assert len(reply.comments) == 1
    return reply.comments[0].status


# --- accept ----------------------------------------------------------------------------------
def test_accept_rejects_a_comment_on_a_post_that_never_appears(
    accept_api: Api, accept_stack: Stack
) -> None:
    rejected_before = counters(accept_stack, "comments_rejected_unknown_post")
    never = str(uuid.uuid4())
    comment = accept_api.comments.CreateComment(
        api_pb2.CreateCommentRequest(post_id=never, content="anyone?"), timeout=TIMEOUT
    )
    accepted = time.monotonic()
    assert comment.status == api_pb2.PENDING
    assert listed_status(accept_api, never) == api_pb2.PENDING  # stored, not lost

    def rejected() -> None:
        assert listed_status(accept_api, never) == api_pb2.REJECTED

    eventually(rejected, timeout_s=10)
    assert time.monotonic() - accepted >= 0.9  # not before its bound (1 s)

    def announced() -> None:  # the read model learnt the final state (CommentUpdated)
        assert query_status(accept_stack, comment.id) == api_pb2.REJECTED

    eventually(announced, timeout_s=10)
    assert counters(accept_stack, "comments_rejected_unknown_post") > rejected_before


def test_accept_releases_held_comments_when_their_post_arrives(
    accept_api: Api, accept_stack: Stack
) -> None:
    held_before = counters(accept_stack, "comments_held")
    comments = []
    for i in range(20):
        post = accept_api.posts.CreatePost(
            api_pb2.CreatePostRequest(title=f"held {i}"), timeout=TIMEOUT
        )
        comments.append(
            accept_api.comments.CreateComment(
                api_pb2.CreateCommentRequest(post_id=post.id, content="quick"), timeout=TIMEOUT
            )
        )
    assert counters(accept_stack, "comments_held") > held_before  # the race was met

    def all_approved() -> None:
        for comment in comments:
            view = accept_api.query.GetPostView(
                api_pb2.GetPostViewRequest(post_id=comment.post_id), timeout=TIMEOUT
            )
            assert [(c.id, c.status) for c in view.comments] == [(comment.id, api_pb2.APPROVED)]

    eventually(all_approved, timeout_s=15)


# --- wait ------------------------------------------------------------------------------------
def test_wait_with_a_token_of_a_post_that_never_existed_is_not_found_at_the_bound(
    wait_api: Api,
) -> None:
    never = str(uuid.uuid4())
    request = api_pb2.CreateCommentRequest(
        post_id=never, content="hello?", consistency_token=ConsistencyToken(never).encode()
    )
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        wait_api.comments.CreateComment(request, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND, raised.value.details()
    assert WAIT_BOUND_MS / 1000 * 0.95 <= elapsed < TIMEOUT
    # Without a token the same comment is refused at once.
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        wait_api.comments.CreateComment(
            api_pb2.CreateCommentRequest(post_id=never, content="hello?"), timeout=TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert time.monotonic() - started < 0.5


def test_wait_is_woken_across_replicas(wait_api: Api, wait_stack: Stack) -> None:
    """Every immediate comment is taken, and none waited until its bound: the replica that
    did not apply the post was woken by the database notification."""
    for address in wait_stack.describe()["services"]["comments"]:
        fetch_metrics(address, reset=True)
    for i in range(30):
        post = wait_api.posts.CreatePost(
            api_pb2.CreatePostRequest(title=f"wait {i}"), timeout=TIMEOUT
        )
        wait_api.comments.CreateComment(
            api_pb2.CreateCommentRequest(
                post_id=post.id, content="quick", consistency_token=post.consistency_token
            ),
            timeout=TIMEOUT,
        )
    longest_ms = 0.0
    for address in wait_stack.describe()["services"]["comments"]:
        encoded = fetch_metrics(address).histograms.get("causality_wait_us")
        if encoded:
            longest_ms = max(longest_ms, decode_histogram(encoded).get_max_value() / 1000)
    assert counters(wait_stack, "comments_waited") > 0  # the race was met
    assert counters(wait_stack, "causality_wakeups_notify") > 0
    assert longest_ms < WAIT_BOUND_MS * 0.9
