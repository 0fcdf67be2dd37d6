"""Scenarios without a network: the mixes, what operations return (Outcome), the chaos scenario's
choice of recently created posts, the generator's own seeding, and the per-request log records."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from benchmarks.load import scenarios
from benchmarks.load.request_log import RequestLog, RequestRecord
from benchmarks.load.scenarios import (
    FROM_RECENT,
    NOTHING,
    OPERATIONS,
    RECENT_POSTS,
    SCENARIOS,
    Context,
    Mix,
    Outcome,
    Stubs,
    seed_posts,
)

CHAOS = {
    "CreatePost": 20,
    "GetPost": 15,
    "CreateComment": 20,
    "ListComments": 15,
    "GetPostView": 20,
    "ListPostViews": 10,
}


class Refused(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


class FakeService:
    """Any stub: records (method, request) and answers with an object that has a fresh id, or
    raises the next error queued for that method."""

    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls
        self.errors: dict[str, list[grpc.RpcError]] = {}

    def __getattr__(self, method: str) -> Any:
        def call(request: Any, timeout: float) -> Any:
            assert timeout == scenarios.TIMEOUT_S
            self.calls.append((method, request))
            queued = self.errors.get(method)
            if queued:
                raise queued.pop(0)
            return SimpleNamespace(
                id=str(uuid.uuid4()), comments=[], consistency_token="", completeness=0, views=[]
            )

        return call


def fake_stubs() -> tuple[Stubs, list[tuple[str, Any]]]:
    calls: list[tuple[str, Any]] = []
    return Stubs(FakeService(calls), FakeService(calls), FakeService(calls)), calls  # type: ignore[arg-type]


def post_of(method: str, request: Any) -> str:
    return request.id if method == "GetPost" else request.post_id


SEEDED = [f"seed-{i}" for i in range(5)]


# --- mixes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_mix_draws_only_and_all_of_the_scenarios_operations(scenario: str) -> None:
    assert set(SCENARIOS[scenario]) <= set(OPERATIONS)
    mix = Mix(scenario, random.Random(7))
    drawn = Counter(mix.draw() for _ in range(5000))
    assert set(drawn) == set(SCENARIOS[scenario])


def test_chaos_scenario_weights() -> None:
    assert SCENARIOS["chaos"] == CHAOS
    assert FROM_RECENT == {"chaos"}
    mix = Mix("chaos", random.Random(3))
    drawn = Counter(mix.draw() for _ in range(20000))
    total = sum(CHAOS.values())
    for op, weight in CHAOS.items():
        assert drawn[op] / 20000 == pytest.approx(weight / total, abs=0.015), op


def test_existing_mixes_are_unchanged() -> None:
    assert SCENARIOS["mixed"] == {
        "CreatePost": 15,
        "CreateComment": 25,
        "GetPostView": 45,
        "ListPostViews": 15,
    }
    assert SCENARIOS["read_heavy"] == {
        "GetPostView": 70,
        "ListPostViews": 20,
        "CreateComment": 5,
        "CreatePost": 5,
    }
    assert SCENARIOS["write_heavy"] == {"CreatePost": 40, "CreateComment": 50, "GetPostView": 10}
    assert SCENARIOS["read_your_writes"] == {"ReadYourWrites": 1}


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        Mix("nope", random.Random(1))


# --- operations and their outcomes -------------------------------------------------------------


class AwaitedService(FakeService):
    """The same fake, its methods awaitable (as a stub's on a grpc.aio channel)."""

    def __getattr__(self, method: str) -> Any:
        blocking = super().__getattr__(method)

        async def call(request: Any, timeout: float) -> Any:
            return blocking(request, timeout)

        return call


@pytest.mark.parametrize("op", sorted(scenarios.CALLS))
def test_an_awaited_plan_makes_the_blocking_operation_s_call(op: str) -> None:
    """The asyncio generator (benchmarks/load/aio_generator.py) awaits the plans the blocking
    operations make: the same method, the same request (ids aside), the same Outcome's shape."""
    stubs, blocking_calls = fake_stubs()
    blocking_outcome = OPERATIONS[op](Context(stubs, SEEDED, random.Random(4)))
    awaited_calls: list[tuple[str, Any]] = []
    services = [AwaitedService(awaited_calls) for _ in range(3)]
    ctx = Context(Stubs(*services), SEEDED, random.Random(4))  # type: ignore[arg-type]
    call = scenarios.CALLS[op](ctx)
    awaited_outcome = call.done(asyncio.run(call.method(call.request, timeout=scenarios.TIMEOUT_S)))

    def without_ids(request: Any) -> Any:
        copy = type(request)()
        copy.CopyFrom(request)
        for name in ("request_id",):  # a fresh uuid4 per call
            if name in type(request).DESCRIPTOR.fields_by_name:
                copy.ClearField(name)
        return copy

    ((method, request),) = blocking_calls
    assert awaited_calls == [(method, awaited_calls[0][1])] and method == op
    assert without_ids(awaited_calls[0][1]) == without_ids(request)
    for name in ("request_id", "id", "post_id"):
        assert bool(getattr(awaited_outcome, name)) == bool(getattr(blocking_outcome, name))
    assert awaited_outcome.post_id == blocking_outcome.post_id


def test_operations_return_what_they_did() -> None:
    stubs, calls = fake_stubs()
    ctx = Context(stubs, SEEDED, random.Random(1))

    created = OPERATIONS["CreatePost"](ctx)
    method, request = calls[-1]
    assert method == "CreatePost" and request.request_id == created.request_id
    assert created.id and created.post_id == ""
    assert [post_id for post_id, _ in ctx.created] == [created.id]

    comment = OPERATIONS["CreateComment"](ctx)
    method, request = calls[-1]
    assert method == "CreateComment"
    assert comment.request_id == request.request_id and comment.id
    assert comment.post_id == request.post_id and comment.post_id in SEEDED

    for op in ("GetPostView", "GetPost", "ListComments"):
        outcome = OPERATIONS[op](ctx)
        method, request = calls[-1]
        assert method == op
        assert outcome == Outcome(post_id=post_of(method, request))
        assert outcome.post_id in SEEDED  # not from_recent: always the seeded posts

    assert OPERATIONS["ListPostViews"](ctx) == NOTHING
    assert calls[-1][0] == "ListPostViews" and calls[-1][1].page_size == 10


def test_a_failed_write_leaves_what_it_sent_in_ctx_sent() -> None:
    stubs, calls = fake_stubs()
    stubs.comments.errors["CreateComment"] = [Refused(grpc.StatusCode.UNAVAILABLE)]  # type: ignore[attr-defined]
    ctx = Context(stubs, SEEDED, random.Random(1))
    with pytest.raises(grpc.RpcError):
        OPERATIONS["CreateComment"](ctx)
    _, request = calls[-1]
    assert ctx.sent == Outcome(request_id=request.request_id, post_id=request.post_id)


def test_create_comment_uses_the_rng_as_before() -> None:
    """Bench figures must not move: the post is drawn first, then the comment's text."""
    stubs, calls = fake_stubs()
    ctx = Context(stubs, SEEDED, random.Random(42))
    OPERATIONS["CreateComment"](ctx)
    _, request = calls[-1]
    replay = random.Random(42)
    assert request.post_id == replay.choice(SEEDED)
    blocked = replay.random() < scenarios.BLOCKED_SHARE
    if blocked:
        assert request.content == "cheap orange phones here"
    else:
        assert request.content == "a thoughtful comment " + str(replay.randrange(10**6))


# --- the chaos scenario's recent posts ---------------------------------------------------------


def test_from_recent_picks_seeded_posts_until_this_process_created_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scenarios, "READ_AGE_S", 0.0)  # reads may pick a post at once
    stubs, calls = fake_stubs()
    ctx = Context(stubs, SEEDED, random.Random(5), from_recent=True)
    for _ in range(50):
        for op in ("CreateComment", "GetPostView", "GetPost", "ListComments"):
            assert OPERATIONS[op](ctx).post_id in SEEDED
    created = [OPERATIONS["CreatePost"](ctx).id for _ in range(RECENT_POSTS + 15)]
    recent = set(created[-RECENT_POSTS:])
    assert {post_id for post_id, _ in ctx.created} == recent
    seen: set[str] = set()
    for _ in range(100):
        for op in ("CreateComment", "GetPostView", "GetPost", "ListComments"):
            outcome = OPERATIONS[op](ctx)
            method, request = calls[-1]
            assert outcome.post_id == post_of(method, request)
            assert outcome.post_id in recent
            seen.add(outcome.post_id)
    assert len(seen) > RECENT_POSTS // 2  # a random one of them, not always the newest


def test_users_of_one_process_share_their_recent_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenarios, "READ_AGE_S", 0.0)
    stubs, _ = fake_stubs()
    shared = Context(stubs, SEEDED, random.Random(1), from_recent=True).created
    writer = Context(stubs, SEEDED, random.Random(2), from_recent=True, created=shared)
    reader = Context(stubs, SEEDED, random.Random(3), from_recent=True, created=shared)
    post = OPERATIONS["CreatePost"](writer).id
    assert OPERATIONS["GetPost"](reader).post_id == post


def test_reads_skip_posts_younger_than_read_age_but_comments_do_not() -> None:
    stubs, _ = fake_stubs()
    ctx = Context(stubs, SEEDED, random.Random(4), from_recent=True)
    young = OPERATIONS["CreatePost"](ctx).id  # acknowledged just now
    for _ in range(30):
        for op in ("GetPostView", "GetPost", "ListComments"):
            assert OPERATIONS[op](ctx).post_id in SEEDED  # not yet READ_AGE_S old
        assert OPERATIONS["CreateComment"](ctx).post_id == young
    ctx.created[-1] = (young, ctx.created[-1][1] - scenarios.READ_AGE_S)  # now old enough
    assert OPERATIONS["GetPostView"](ctx).post_id == young


# --- the generator's own seed (no --lab-seed-file) ---------------------------------------------


def test_seed_posts_waits_until_comments_and_query_know_each_post() -> None:
    stubs, calls = fake_stubs()
    not_yet = [Refused(grpc.StatusCode.NOT_FOUND), Refused(grpc.StatusCode.NOT_FOUND)]
    stubs.comments.errors["CreateComment"] = list(not_yet)  # type: ignore[attr-defined]
    stubs.query.errors["GetPostView"] = [Refused(grpc.StatusCode.NOT_FOUND)]  # type: ignore[attr-defined]
    ids, everywhere = seed_posts(stubs, 3, limit_s=5)
    assert everywhere and len(ids) == 3
    posts = [r for m, r in calls if m == "CreatePost"]
    assert len(posts) == 3 and all(r.request_id for r in posts)
    comments = [r for m, r in calls if m == "CreateComment"]
    assert len(comments) == 3 + 2  # one per post, the first retried twice...
    assert len({r.request_id for r in comments}) == 3  # ...with the same request id
    assert [r.post_id for r in comments][2:] == ids
    views = [r.post_id for m, r in calls if m == "GetPostView"]
    assert views == [ids[0], *ids]


def test_seed_posts_gives_up_waiting_after_its_limit() -> None:
    stubs, _ = fake_stubs()
    stubs.comments.errors["CreateComment"] = [Refused(grpc.StatusCode.NOT_FOUND)] * 1000  # type: ignore[attr-defined]
    ids, everywhere = seed_posts(stubs, 2, limit_s=0.05)
    assert len(ids) == 2 and not everywhere


def test_seed_posts_raises_other_errors() -> None:
    stubs, _ = fake_stubs()
    stubs.comments.errors["CreateComment"] = [Refused(grpc.StatusCode.UNAVAILABLE)]  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError):
        seed_posts(stubs, 1, limit_s=5)


# --- the per-request log -----------------------------------------------------------------------


def test_request_record_json_round_trip() -> None:
    full = RequestRecord("CreateComment", 1.5, 1.75, "OK", "rid", "cid", "pid")
    assert RequestRecord.from_json(full.to_json()) == full
    assert json.loads(full.to_json()) == {
        "op": "CreateComment",
        "scheduled": 1.5,
        "end": 1.75,
        "status": "OK",
        "request_id": "rid",
        "id": "cid",
        "post_id": "pid",
    }
    bare = RequestRecord("ListPostViews", 1700000000.123456, 1700000000.2, "UNAVAILABLE")
    assert json.loads(bare.to_json()) == {  # empty strings are left out
        "op": "ListPostViews",
        "scheduled": 1700000000.123456,
        "end": 1700000000.2,
        "status": "UNAVAILABLE",
    }
    assert RequestRecord.from_json(bare.to_json()) == bare
    assert not bare.ok and full.ok
    assert full.latency_ms == pytest.approx(250)


def test_chaos_reads_the_same_records() -> None:
    from lab.chaos import records

    assert records.RequestRecord is RequestRecord
    assert records.OK == "OK"


def test_request_log_buffers_until_flushed(tmp_path: Path) -> None:
    from lab.chaos.records import read_request_log

    log = RequestLog(tmp_path / "log", pid=123)
    assert log.path == tmp_path / "log" / "requests-123.jsonl"
    log.flush()
    assert not log.path.exists()  # nothing to write: no file
    first = RequestRecord("CreatePost", 2.0, 2.1, "OK", "r1", "p1")
    log.append(first)
    assert not log.path.exists()  # buffered
    log.flush()
    second = RequestRecord("GetPost", 1.0, 1.2, "TIMEOUT", post_id="p1")
    log.append(second)
    log.close()
    assert log.path.read_text().count("\n") == 2
    assert read_request_log([log.path]) == [second, first]  # by scheduled start
