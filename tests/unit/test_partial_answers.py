"""Partial answers end to end without a network: sync-resilient's fallback views, their
protobuf form, how the load generator tells them apart, and how a chaos experiment counts them
("up, degraded")."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from benchmarks.load import scenarios
from benchmarks.load.request_log import OK, PARTIAL, RequestRecord, answered
from blog.convert import comment_to_pb, post_to_pb, view_to_pb
from blog.domain import (
    Comment,
    CommentStatus,
    DeadlineExceeded,
    NotFound,
    Post,
    PostView,
    Unavailable,
)
from blog.paging import PageRequest
from blog.rpc.metrics import Metrics
from blog.v1 import api_pb2, internal_pb2
from lab.chaos.cells import cell
from lab.chaos.cells import during as cells_during
from lab.chaos.degraded import degraded
from lab.chaos.phases import availability
from lab.chaos.records import FaultWindow
from sync_impl.resilience.fallbacks import PartialPostViews

R = TypeVar("R")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
POST = Post("00000000-0000-0000-0000-000000000001", "t", "b", T0)
COMMENT = Comment("00000000-0000-0000-0000-0000000000c1", POST.id, "c", CommentStatus.APPROVED, T0)


class Service:
    """A stub whose methods answer `replies[method]` or raise `errors[method]` (domain errors:
    the guard's translation is tested elsewhere), recording each call's timeout."""

    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.errors: dict[str, Exception] = {}
        self.timeouts: dict[str, float] = {}
        self.cancelled: list[str] = []

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        async def call(request: Any, timeout: float) -> Any:
            self.timeouts[method] = timeout
            try:
                await asyncio.sleep(0.01 if method in self.errors else 0)
            except asyncio.CancelledError:
                self.cancelled.append(method)
                raise
            if method in self.errors:
                raise self.errors[method]
            return self.replies[method]

        return call


async def plain(peer: str, make: Callable[[], Awaitable[R]]) -> R:
    return await make()


def views(timeout_s: float = 1.0) -> tuple[PartialPostViews, Service, Service, Metrics]:
    posts = Service(
        {
            "GetPost": post_to_pb(POST),
            "ListPosts": api_pb2.ListPostsResponse(posts=[post_to_pb(POST)], next_page_token="n"),
        }
    )
    comments = Service(
        {
            "ListComments": api_pb2.ListCommentsResponse(comments=[comment_to_pb(COMMENT)]),
            "ListCommentsForPosts": internal_pb2.ListCommentsForPostsResponse(
                comments=[comment_to_pb(COMMENT)]
            ),
        }
    )
    metrics = Metrics("query")
    reader = PartialPostViews(
        posts,  # type: ignore[arg-type]
        comments,  # type: ignore[arg-type]
        comments,  # type: ignore[arg-type]
        lambda: timeout_s,
        plain,
        reserve_s=0.05,
        metrics=metrics,
    )
    return reader, posts, comments, metrics


def test_a_view_is_complete_when_comments_answer() -> None:
    reader, _, _, metrics = views()
    view = asyncio.run(reader.view(POST.id))
    assert view == PostView(POST, (COMMENT,))
    assert view.comments_complete and "views_partial" not in metrics.counters


@pytest.mark.parametrize(
    "error", [Unavailable("comments service", "circuit breaker open"), DeadlineExceeded("x")]
)
def test_a_view_is_the_post_alone_marked_partial_when_comments_cannot_be_asked(
    error: Exception,
) -> None:
    reader, _, comments, metrics = views(timeout_s=0.8)
    comments.errors["ListComments"] = error
    view = asyncio.run(reader.view(POST.id))
    assert view == PostView(POST, (), comments_complete=False)
    assert metrics.counters["views_partial"] == 1
    # The comments call ends before the post's deadline: the partial answer arrives in time.
    assert comments.timeouts["ListComments"] == pytest.approx(0.75)


def test_a_view_of_no_post_is_none_and_a_missing_post_service_fails_it() -> None:
    reader, posts, comments, _ = views()
    posts.errors["GetPost"] = NotFound("post x not found")
    comments.errors["ListComments"] = Unavailable("comments service")
    assert asyncio.run(reader.view(POST.id)) is None
    assert comments.cancelled == ["ListComments"]  # not waited for
    posts.errors["GetPost"] = Unavailable("posts service", "circuit breaker open")
    with pytest.raises(Unavailable, match="posts service"):
        asyncio.run(reader.view(POST.id))


def test_a_page_is_its_posts_without_comments_when_comments_cannot_be_asked() -> None:
    reader, _, comments, metrics = views()
    page = PageRequest.parse(10, "")
    assert asyncio.run(reader.view_page(page)) == ([PostView(POST, (COMMENT,))], "n")
    comments.errors["ListCommentsForPosts"] = Unavailable("comments service")
    partial, token = asyncio.run(reader.view_page(page))
    assert partial == [PostView(POST, (), comments_complete=False)] and token == "n"
    assert metrics.counters["views_partial"] == 1


def test_the_wire_says_complete_or_without_comments() -> None:
    assert view_to_pb(PostView(POST, (COMMENT,))).completeness == api_pb2.VIEW_COMPLETE
    partial = view_to_pb(PostView.without_comments(POST))
    assert partial.completeness == api_pb2.VIEW_WITHOUT_COMMENTS and not partial.comments
    assert partial.post == post_to_pb(POST)


# --- the load generator ----------------------------------------------------------------------
class Query:
    def __init__(self, view: api_pb2.PostView) -> None:
        self.view = view

    def GetPostView(self, request: Any, timeout: float) -> api_pb2.PostView:
        return self.view

    def ListPostViews(self, request: Any, timeout: float) -> api_pb2.ListPostViewsResponse:
        return api_pb2.ListPostViewsResponse(views=[view_to_pb(PostView(POST, ())), self.view])


@pytest.mark.parametrize(
    ("completeness", "partial"),
    [
        (api_pb2.VIEW_WITHOUT_COMMENTS, True),
        (api_pb2.VIEW_COMPLETE, False),
        (api_pb2.VIEW_COMPLETENESS_UNSPECIFIED, False),  # a server that predates the field
    ],
)
def test_the_generator_tells_partial_answers_apart(completeness: int, partial: bool) -> None:
    view = api_pb2.PostView(post=post_to_pb(POST), completeness=completeness)  # type: ignore[arg-type]
    stubs = scenarios.Stubs(None, None, Query(view))  # type: ignore[arg-type]
    ctx = scenarios.Context(stubs, [POST.id], random.Random(1))
    assert scenarios.get_post_view(ctx) == scenarios.Outcome(post_id=POST.id, partial=partial)
    assert scenarios.list_post_views(ctx).partial is partial  # one partial view: a partial page
    assert answered(partial) == (PARTIAL if partial else OK)


def test_a_partial_record_is_counted_apart_from_complete_answers() -> None:
    record = RequestRecord("GetPostView", 1.0, 1.01, PARTIAL, post_id=POST.id)
    assert record.partial and not record.ok
    assert RequestRecord.from_json(record.to_json()) == record
    assert json.loads(record.to_json())["status"] == "PARTIAL"
    full = RequestRecord("GetPostView", 1.0, 1.01, OK)
    assert full.ok and not full.partial


def test_the_recorder_counts_partial_answers_among_the_answered(tmp_path: Path) -> None:
    from benchmarks.load.recorder import Recorder  # gevent: only where it is needed

    recorder = Recorder()
    recorder.add("GetPostView", recorder.t0, recorder.t0, recorder.t0 + 0.01, None)
    recorder.add("GetPostView", recorder.t0, recorder.t0, recorder.t0 + 0.02, None, partial=True)
    recorder.add("GetPostView", recorder.t0, recorder.t0, recorder.t0 + 0.03, "UNAVAILABLE")
    recorder.dump(str(tmp_path))
    (written,) = tmp_path.glob("generator-*.json")
    op = json.loads(written.read_text())["ops"]["GetPostView"]
    assert (op["ok"], op["partial"], op["errors"]) == (2, 1, {"UNAVAILABLE": 1})


# --- a chaos experiment: "up, degraded" ------------------------------------------------------
WINDOW = FaultWindow("kill-db:comments", injected_at=1000.0, restored_at=1010.0)


def test_partial_answers_are_counted_apart_per_phase() -> None:
    records = [
        RequestRecord("GetPostView", 995.0, 995.01, OK),
        RequestRecord("GetPostView", 1001.0, 1001.01, PARTIAL),
        RequestRecord("GetPostView", 1002.0, 1002.01, PARTIAL),
        RequestRecord("GetPostView", 1003.0, 1003.01, "UNAVAILABLE"),
        RequestRecord("GetPostView", 1004.0, 1004.01, OK),  # e.g. before the breaker opened
        RequestRecord("GetPostView", 1010.2, 1010.3, PARTIAL),  # the breaker still open
        RequestRecord("GetPostView", 1011.0, 1011.01, OK),
        RequestRecord("CreatePost", 1001.0, 1001.01, OK),
    ]
    available = availability(records, WINDOW, warmup_end=990.0)["GetPostView"]  # complete only
    assert (available.before, available.during, available.after) == (1.0, 0.25, 0.5)
    during = cell(cells_during(records, WINDOW)["GetPostView"])  # the matrix's cell
    assert (during.ok, during.partial, during.answered) == (1, 2, 0.75)
    found = degraded(records, WINDOW, warmup_end=990.0)
    assert set(found) == {"GetPostView"}  # only operations with a partial answer
    view = found["GetPostView"].to_dict()
    assert (view["before"], view["during"], view["after"]) == (0.0, 0.5, 0.5)
    assert (view["partial_before"], view["partial_during"], view["partial_after"]) == (0, 2, 1)
    assert view["last_partial_after_restore_s"] == pytest.approx(0.3)


def test_no_partial_answer_no_degraded_figure() -> None:
    records = [RequestRecord("GetPostView", 1001.0, 1001.01, "UNAVAILABLE")]
    assert degraded(records, WINDOW, warmup_end=990.0) == {}


def test_lab_view_says_a_partial_answer_is_one() -> None:
    from lab.cli.client_commands import format_view

    complete = format_view(view_to_pb(PostView(POST, (COMMENT,))))
    assert "comments: 1" in complete and "[APPROVED] c" in complete
    partial = format_view(view_to_pb(PostView.without_comments(POST)))
    assert "comments: unavailable (a partial answer" in partial
