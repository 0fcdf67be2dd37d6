"""Kill the comments database server (SIGKILL of its postmaster) under the sync stack: what fails
fast, what keeps working, and recovery once it is back. Nothing hangs past its deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import grpc
import psutil
import pytest

from blog.v1 import api_pb2
from lab.stack.runner import Stack
from tests.helpers import Api, eventually, start_stack

DEADLINE_S = 3.0


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack("sync", tmp_path_factory.mktemp("chaos"))
    try:
        yield stack
    finally:
        stack.stop()


def outcome(call, request) -> tuple[str, str, float]:
    """(status name, details, seconds taken) of one call with a deadline."""
    started = time.monotonic()
    try:
        call(request, timeout=DEADLINE_S)
        return "OK", "", time.monotonic() - started
    except grpc.RpcError as error:
        return error.code().name, error.details(), time.monotonic() - started


def test_comments_database_killed_then_restarted(chaos_stack: Stack) -> None:
    api = Api.from_stack_file(chaos_stack.stack_file)
    post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="before"), timeout=5)
    comment = api.comments.CreateComment(
        api_pb2.CreateCommentRequest(post_id=post.id, content="acknowledged before the fault"),
        timeout=5,
    )

    db = chaos_stack.databases["comments"]
    postmaster = db.pid
    assert postmaster is not None
    db.kill()
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == "zombie"

    operations = {
        "CreatePost": (api.posts.CreatePost, api_pb2.CreatePostRequest(title="during")),
        "GetPost": (api.posts.GetPost, api_pb2.GetPostRequest(id=post.id)),
        "CreateComment": (
            api.comments.CreateComment,
            api_pb2.CreateCommentRequest(post_id=post.id, content="during the fault"),
        ),
        "ListComments": (api.comments.ListComments, api_pb2.ListCommentsRequest(post_id=post.id)),
        "GetPostView": (api.query.GetPostView, api_pb2.GetPostViewRequest(post_id=post.id)),
        "ListPostViews": (api.query.ListPostViews, api_pb2.ListPostViewsRequest(page_size=5)),
    }
    during = {name: outcome(call, req) for name, (call, req) in operations.items()}

    # Operations that do not need the comments database keep working.
    assert during["CreatePost"][0] == "OK"
    assert during["GetPost"][0] == "OK"
    # Those that need it fail fast, with UNAVAILABLE naming what is down: no hang, no INTERNAL.
    for name in ("CreateComment", "ListComments", "GetPostView", "ListPostViews"):
        code, details, took = during[name]
        assert code == "UNAVAILABLE", (name, code, details)
        assert "comments database" in details, (name, details)
        assert took < DEADLINE_S, (name, took)  # answered before the client's deadline

    chaos_stack.restart_database("comments")

    def recovered() -> None:
        for name, (call, req) in operations.items():
            code, details, _ = outcome(call, req)
            assert code == "OK", (name, code, details)

    eventually(recovered, timeout_s=20)
    view = api.query.GetPostView(api_pb2.GetPostViewRequest(post_id=post.id), timeout=5)
    assert comment.id in {c.id for c in view.comments}  # acknowledged before: still there
    api.close()


def test_a_dead_dependency_service_is_unavailable_not_a_hang(chaos_stack: Stack) -> None:
    """Stop (SIGSTOP) the moderation service: CreateComment answers DEADLINE_EXCEEDED or
    UNAVAILABLE within the deadline and names moderation; other operations keep working."""
    api = Api.from_stack_file(chaos_stack.stack_file)
    post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="moderation outage"), timeout=5)
    moderation = chaos_stack.services["moderation"][0].process
    psutil.Process(moderation.pid).suspend()
    try:
        code, details, took = outcome(
            api.comments.CreateComment,
            api_pb2.CreateCommentRequest(
                post_id=post.id, content="hello", request_id=str(uuid.uuid4())
            ),
        )
        assert code in ("DEADLINE_EXCEEDED", "UNAVAILABLE"), (code, details)
        assert code == "DEADLINE_EXCEEDED" or "moderation" in details
        assert took < DEADLINE_S + 0.5
        assert (
            outcome(api.query.GetPostView, api_pb2.GetPostViewRequest(post_id=post.id))[0] == "OK"
        )
    finally:
        psutil.Process(moderation.pid).resume()

    def comments_work_again() -> None:
        request = api_pb2.CreateCommentRequest(post_id=post.id, content="after")
        assert outcome(api.comments.CreateComment, request)[0] == "OK"

    eventually(comments_work_again)
    api.close()
