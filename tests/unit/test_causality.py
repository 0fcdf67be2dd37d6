"""The causality policies' pure logic: the consistency token, the waiter registry, the bounded
wait, and the comment rule under each policy (docs/METHOD.md, Causality across services)."""

from __future__ import annotations

import asyncio
import base64
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from async_impl.arrivals import Arrivals, KnownPostArrivals, wait_until_known
from benchmarks.policies.aggregate import aggregate
from blog import features
from blog.domain import (
    CausalityPolicy,
    Comment,
    CommentStatus,
    ConsistencyToken,
    Decision,
    InvalidArgument,
    NewComment,
    NotFound,
)


def synchronously(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (pytest sees the original signature)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return run


# --- the token -------------------------------------------------------------------------------
def test_token_round_trip_is_opaque_and_canonical() -> None:
    post_id = str(uuid.uuid4())
    text = ConsistencyToken(post_id).encode()
    assert post_id not in text and "=" not in text
    assert ConsistencyToken.decode(text) == ConsistencyToken(post_id)
    upper = base64.urlsafe_b64encode(f"1:post:{post_id.upper()}".encode()).decode()
    assert ConsistencyToken.decode(upper) == ConsistencyToken(post_id)  # padding, case


def test_empty_token_means_none() -> None:
    assert ConsistencyToken.decode("") is None


@pytest.mark.parametrize(
    "text",
    [
        "garbage!",
        "x",
        base64.urlsafe_b64encode(b"1:post:not-a-uuid").decode(),
        base64.urlsafe_b64encode(f"2:seq:{uuid.uuid4()}".encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_token_is_invalid_argument_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        ConsistencyToken.decode(text)
    assert str(raised.value).startswith("consistency_token")


def test_policy_parse() -> None:
    assert CausalityPolicy.parse(" Wait ") is CausalityPolicy.WAIT
    with pytest.raises(InvalidArgument, match="causality"):
        CausalityPolicy.parse("maybe")


# --- the waiter registry and the bounded wait ------------------------------------------------
@synchronously
async def test_arrivals_wake_only_their_key_and_forget_waiters() -> None:
    arrivals = Arrivals()
    with arrivals.expecting("a") as a1, arrivals.expecting("a") as a2, arrivals.expecting("b") as b:
        assert len(arrivals) == 3
        assert arrivals.arrived("a") == 2
        assert a1.is_set() and a2.is_set() and not b.is_set()
        assert arrivals.arrived("nobody") == 0
        assert arrivals.wake_all() == 3 and b.is_set()
    assert len(arrivals) == 0 and arrivals.arrived("a") == 0


class FakeKnown:
    """KnownPosts whose answers the test sets; counts the checks."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.checks = 0

    async def knows(self, post_id: str) -> bool:
        self.checks += 1
        return post_id in self.known


@synchronously
async def test_wait_returns_when_the_post_arrives_not_at_the_bound() -> None:
    known, arrivals = FakeKnown(), Arrivals()

    async def arrive() -> None:
        await asyncio.sleep(0.05)
        known.known.add("p")
        arrivals.arrived("p")

    started = time.monotonic()
    task = asyncio.create_task(arrive())
    assert await wait_until_known(known, arrivals, "p", 5.0)
    await task
    assert time.monotonic() - started < 1.0
    assert known.checks == 2  # once before waiting, once when woken: no polling


@synchronously
async def test_wait_gives_up_at_the_bound() -> None:
    known, arrivals = FakeKnown(), Arrivals()
    started = time.monotonic()
    assert not await wait_until_known(known, arrivals, "never", 0.1)
    assert 0.09 <= time.monotonic() - started < 1.0
    assert len(arrivals) == 0


@synchronously
async def test_a_spurious_wake_checks_again_and_keeps_waiting() -> None:
    known, arrivals = FakeKnown(), Arrivals()

    async def nudge() -> None:
        await asyncio.sleep(0.02)
        arrivals.wake_all()  # e.g. after a reconnect: nothing arrived
        await asyncio.sleep(0.03)
        known.known.add("p")
        arrivals.arrived("p")

    task = asyncio.create_task(nudge())
    assert await wait_until_known(known, arrivals, "p", 5.0)
    await task
    assert known.checks == 3


@synchronously
async def test_a_lost_notification_costs_time_not_the_answer() -> None:
    known, arrivals = FakeKnown(), Arrivals()

    async def arrive_silently() -> None:
        await asyncio.sleep(0.02)
        known.known.add("p")  # nobody calls arrived(): the final check finds it

    task = asyncio.create_task(arrive_silently())
    assert await wait_until_known(known, arrivals, "p", 0.15)
    await task


# --- the comment rule under each policy ------------------------------------------------------
class FakeComments:
    """A HoldingCommentStore over dicts: `known` posts take comments, others are held."""

    def __init__(self, known: FakeKnown) -> None:
        self.known = known
        self.stored: dict[str, Comment] = {}
        self.held: dict[str, datetime] = {}

    async def add(
        self, comment: Comment, request_id: str | None = None
    ) -> tuple[Comment | None, bool]:
        if comment.post_id not in self.known.known:
            return None, False
        self.stored[comment.id] = comment
        return comment, True

    async def add_or_hold(
        self, comment: Comment, request_id: str | None, until: datetime
    ) -> tuple[Comment, bool]:
        self.stored[comment.id] = comment
        if comment.post_id not in self.known.known:
            self.held[comment.id] = until
        return comment, True

    async def settle(self, comment_id: str, status: CommentStatus) -> tuple[Comment | None, bool]:
        raise NotImplementedError

    async def list_for_posts(self, post_ids: Sequence[str]) -> list[Comment]:
        return [c for c in self.stored.values() if c.post_id in post_ids]


class Later:
    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        return Decision(CommentStatus.PENDING)


def _setup(
    policy: CausalityPolicy, wait_s: float = 1.0
) -> tuple[FakeKnown, FakeComments, features.Causality, NewComment]:
    known = FakeKnown()
    arrivals = KnownPostArrivals(known, Arrivals())
    causality = features.Causality(policy, wait_s=wait_s, accept_s=3.0, arrivals=arrivals)
    return known, FakeComments(known), causality, NewComment(str(uuid.uuid4()), "hi")


@pytest.mark.parametrize("policy", list(CausalityPolicy))
@synchronously
async def test_a_known_post_takes_the_comment_at_once_under_every_policy(
    policy: CausalityPolicy,
) -> None:
    known, comments, causality, new = _setup(policy)
    known.known.add(new.post_id)
    comment, inserted, outcome = await features.create_comment_causally(
        comments, new, Later(), causality, ConsistencyToken(new.post_id)
    )
    assert inserted and comment.status is CommentStatus.PENDING
    assert outcome == features.CausalOutcome()


@pytest.mark.parametrize("policy", [CausalityPolicy.REFUSE, CausalityPolicy.WAIT])
@synchronously
async def test_refuse_and_wait_without_token_refuse_at_once(policy: CausalityPolicy) -> None:
    _, comments, causality, new = _setup(policy)
    started = time.monotonic()
    with pytest.raises(NotFound):
        token = ConsistencyToken(new.post_id) if policy is CausalityPolicy.REFUSE else None
        await features.create_comment_causally(comments, new, Later(), causality, token)
    assert time.monotonic() - started < 0.5


@synchronously
async def test_wait_with_a_token_takes_the_comment_once_the_post_arrives() -> None:
    known, comments, causality, new = _setup(CausalityPolicy.WAIT)

    async def arrive() -> None:
        await asyncio.sleep(0.03)
        known.known.add(new.post_id)
        assert isinstance(causality.arrivals, KnownPostArrivals)
        causality.arrivals.arrivals.arrived(new.post_id)  # as the consumer does after its commit

    task = asyncio.create_task(arrive())
    comment, inserted, outcome = await features.create_comment_causally(
        comments, new, Later(), causality, ConsistencyToken(new.post_id)
    )
    await task
    assert inserted and comment.post_id == new.post_id
    assert outcome.waited_s is not None and 0.02 < outcome.waited_s < 0.5


@synchronously
async def test_wait_with_a_token_is_bounded_by_the_callers_deadline() -> None:
    _, comments, causality, new = _setup(CausalityPolicy.WAIT, wait_s=5.0)
    started = time.monotonic()
    with pytest.raises(NotFound):
        await features.create_comment_causally(
            comments, new, Later(), causality, ConsistencyToken(new.post_id), time_left_s=0.1
        )
    assert time.monotonic() - started < 1.0


@synchronously
async def test_accept_holds_a_comment_on_an_unknown_post() -> None:
    _, comments, causality, new = _setup(CausalityPolicy.ACCEPT)
    comment, inserted, outcome = await features.create_comment_causally(
        comments, new, Later(), causality, None
    )
    assert inserted and outcome.held and comment.status is CommentStatus.PENDING
    assert comment.id in comments.held
    bound = (comments.held[comment.id] - comment.created_at).total_seconds()
    assert 2.9 < bound < 3.1


# --- the measurement's aggregate -------------------------------------------------------------
def test_aggregate_gives_median_and_spread_and_skips_missing() -> None:
    def run(refusals: float, p50: float | None) -> dict:
        empty = {"count": 0}
        final = {"count": 1, "p50_ms": p50, "p99_ms": p50} if p50 is not None else empty
        return {
            "refusals_per_1000": refusals,
            "create_comment_ms": final,
            "acknowledged_ms": final,
            "final_status_ms": final,
            "send_to_final_ms": final,
            "bad_input": {"answers": {}, "time_ms": empty},
            "bad_input_with_token": {"answers": {}, "time_ms": empty},
        }

    agg = aggregate([run(10, 1.0), run(30, None), run(20, 3.0)])  # type: ignore[list-item]
    assert agg["refusals_per_1000"] == {
        "median": 20,
        "min": 10,
        "max": 30,
        "n": 3,
        "values": [10, 30, 20],
    }
    assert agg["final_status_p50_ms"] == {
        "median": 2.0,
        "min": 1.0,
        "max": 3.0,
        "n": 2,
        "values": [1.0, 3.0],
    }
    assert agg["bad_input_p50_ms"] is None  # no run measured it


# --- the options -----------------------------------------------------------------------------
def test_lab_up_takes_a_policy_and_refuses_an_unknown_one(capsys: pytest.CaptureFixture) -> None:
    from lab.cli.main import build_parser

    args = build_parser().parse_args(["up", "--impl", "async", "--causality", "accept"])
    assert (args.causality, args.causality_accept_s) == ("accept", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--impl", "async", "--causality", "maybe"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--causality", "wait", "--impl", "sync"],
        ["--causality", "wait", "--impl", "async", "--attach", "x/stack.json"],
    ],
)
def test_bench_causality_refuses_what_it_cannot_compare(argv: list[str]) -> None:
    from lab.cli.bench import run_causality
    from lab.cli.common import CliError
    from lab.cli.main import build_parser

    args = build_parser().parse_args(["bench", *argv])
    with pytest.raises(CliError, match="--causality"):
        run_causality(args)


# --- the comparison under load and under faults -----------------------------------------------
def _measured(ok: int, errors: dict[str, int], lag: bool) -> dict[str, Any]:
    """A measured run (benchmarks/suite/results.py, MeasuredRun) reduced to what is read."""
    return {
        "scenario": "mixed",
        "offered_rate": 50.0,
        "achieved_rate": 49.0,
        "duration_s": 15.0,
        "error_rate": 0.01,
        "operations": {
            "CreateComment": {
                "ok": ok,
                "errors": errors,
                "error_rate": 0.0,
                "latency_ms": {"count": ok, "p50_ms": 2.0, "p99_ms": 9.0},
                "service_time_ms": {"count": ok},
            }
        },
        "service_counters": {"comments": {"comments_unknown_post": 3, "events_applied": 7}},
        "visibility_lag_ms": {"comment_status_lag_us": {"count": 5, "p50_ms": 11.0}} if lag else {},
        "generator_saturated": False,
        "machine": {"steal_percent": 0.5},
    }


def test_mixed_result_counts_refusals_per_1000_comments_sent() -> None:
    from benchmarks.policies.runs import mixed_result

    run = mixed_result(
        _measured(194, {"NOT_FOUND": 4, "UNAVAILABLE": 2}, lag=True),  # type: ignore[arg-type]
        "async",
        "refuse",
        2,
    )
    assert (run["variant"], run["repetition"], run["comments"], run["refused"]) == (
        "async-refuse",
        2,
        200,
        4,
    )
    assert run["refusals_per_1000"] == 20.0
    assert run["comment_errors"] == {"NOT_FOUND": 4, "UNAVAILABLE": 2}
    assert run["create_comment_ms"]["p99_ms"] == 9.0
    assert run["comment_status_lag_ms"] == {"count": 5, "p50_ms": 11.0}
    assert run["server"]["comments_unknown_post"] == 3 and run["server"]["comments_held"] == 0
    assert run["steal_percent"] == 0.5
    sync = mixed_result(_measured(0, {}, lag=False), "sync", None, 1)  # type: ignore[arg-type]
    assert (sync["variant"], sync["refusals_per_1000"]) == ("sync", None)
    assert sync["comment_status_lag_ms"] == {"count": 0}


def _record(op: str, at: float, status: str = "OK", **kw: str) -> Any:
    from benchmarks.load.request_log import RequestRecord

    return RequestRecord(op=op, scheduled=at, end=at + 0.01, status=status, **kw)


def _experiment(**extra: Any) -> dict[str, Any]:
    """An experiment's result as lab/chaos/runner.py returns it, reduced to what is read: load from
    t=100, warm-up 4 s, fault held from 110 to 118."""
    comments = {"attempted": 9, "acknowledged": 6, "lost": 0, "duplicated": 0}
    return {
        "impl": "async",
        "fault": "kill-bus",
        "valid": True,
        "phases": {"warmup_s": 4.0, "hold_s": 8.0, "observe_s": 8.0},
        "times": {"load_started_at": 100.0, "injected_at": 110.0, "restored_at": 118.0},
        "audit": {"valid": True, "total": {}, "kinds": {"CreateComment": comments}},
        "p99_ms": {"CreateComment": {"before": 3.0, "during": 2001.0, "after": 4.0}},
        "recovery_s": {"CreateComment": 0.5},
        "convergence_s": 1.25,
        "catch_up": {"refused": 1},
        **extra,
    }


def test_fault_run_counts_what_a_client_saw_during_and_after_the_fault() -> None:
    from lab.chaos.policy_faults import fault_run, outcomes

    records = [
        _record("CreateComment", 102.0, "NOT_FOUND"),  # warm-up: left out
        _record("CreateComment", 105.0),  # before
        _record("CreateComment", 110.0),  # during
        _record("CreateComment", 111.0, "NOT_FOUND"),
        _record("CreateComment", 112.0, "UNAVAILABLE"),
        _record("CreateComment", 117.9),
        _record("GetPost", 113.0, "UNAVAILABLE"),  # not a comment
        _record("CreateComment", 118.0),  # after
        _record("CreateComment", 119.0, "NOT_FOUND"),
    ]
    row = fault_run(
        _experiment(counters={"comments_rejected_unknown_post": 2}), records, "wait", 3, "d"
    )
    assert row["during"] == {
        "requests": 4,
        "ok": 2,
        "refused": 1,
        "errors": {"UNAVAILABLE": 1},
        "availability": 0.5,
        "refusals_per_1000": 250.0,
    }
    assert (row["after"]["requests"], row["after"]["refused"]) == (2, 1)
    assert (row["variant"], row["repetition"], row["fault"], row["hold_s"]) == (
        "async-wait",
        3,
        "kill-bus",
        8.0,
    )
    assert row["create_comment_p99_during_ms"] == 2001.0
    assert (row["recovery_s"], row["convergence_s"], row["catch_up_refused"]) == (0.5, 1.25, 1)
    assert row["audit"]["acknowledged"] == 6 and row["audit"]["indeterminate"] == 0
    assert row["rejected_unknown_post"] == 2
    assert outcomes([])["availability"] is None


def test_fault_run_without_a_restored_fault_has_empty_phases() -> None:
    from lab.chaos.policy_faults import fault_run

    result = _experiment()
    result["times"] = {"load_started_at": 100.0, "injected_at": None, "restored_at": None}
    row = fault_run(result, [_record("CreateComment", 111.0)], None, 1, "d")
    assert row["during"]["requests"] == 0 and row["hold_s"] is None
    assert (row["variant"], row["rejected_unknown_post"]) == ("async", None)


def test_fault_aggregate_spreads_figures_and_sums_the_audit() -> None:
    from benchmarks.policies.aggregate import fault_aggregate
    from lab.chaos.policy_faults import fault_run

    def run(share_ok: int, rejected: int | None, lost: int = 0) -> Any:
        records = [_record("CreateComment", 111.0) for _ in range(share_ok)]
        records += [_record("CreateComment", 112.0, "NOT_FOUND") for _ in range(4 - share_ok)]
        result = _experiment()
        result["audit"]["kinds"]["CreateComment"]["lost"] = lost
        if rejected is not None:
            result["counters"] = {"comments_rejected_unknown_post": rejected}
        return fault_run(result, records, "accept", 1, "d")

    agg = fault_aggregate([run(4, 0), run(2, 3, lost=1), run(3, None)])
    assert agg["comment_availability_during_percent"] == {
        "median": 75.0,
        "min": 50.0,
        "max": 100.0,
        "n": 3,
        "values": [100.0, 50.0, 75.0],
    }
    assert agg["refusals_per_1000_during"] == {
        "median": 250.0,
        "min": 0.0,
        "max": 500.0,
        "n": 3,
        "values": [0.0, 500.0, 250.0],
    }
    assert (agg["runs"], agg["valid_runs"], agg["acknowledged"], agg["lost"]) == (3, 3, 18, 1)
    assert agg["rejected_unknown_post"] == 3
    assert fault_aggregate([run(4, None)])["rejected_unknown_post"] is None


def test_the_printed_table_has_the_load_and_the_fault_rows() -> None:
    from benchmarks.policies.runs import mixed_result
    from benchmarks.policies.tables import table
    from lab.chaos.policy_faults import fault_run

    mixed = mixed_result(_measured(10, {}, lag=True), "async", "accept", 1)  # type: ignore[arg-type]
    faulted = fault_run(_experiment(), [_record("CreateComment", 111.0)], "accept", 1, "d")
    text = table(
        {
            "runs": {},
            "mixed": {"async-accept": [mixed]},
            "faults": {"kill-bus": {"async-accept": [faulted]}},
        }
    )
    assert "status lag p50 / p99" in text and "rejected unknown" in text
    assert any(
        line.startswith("async-accept") and "2.0 / 9.0" in line for line in text.splitlines()
    )
    assert any(
        line.startswith("kill-bus") and "100.0" in line and "1/1" in line
        for line in text.splitlines()
    )


def test_a_fault_applies_to_the_implementations_that_have_it() -> None:
    from benchmarks.policies.compare import applies, compare
    from benchmarks.policies.config import CausalityConfig

    assert applies("async", "kill-bus") and not applies("sync", "kill-bus")
    assert applies("sync", "kill-db:comments")
    with pytest.raises(ValueError, match="without a runner"):
        compare(CausalityConfig(policies=["wait"], faults=["kill-bus"]))


def test_bench_causality_options_default_to_mixed_load_and_both_faults() -> None:
    from lab.cli.bench import causality_config
    from lab.cli.main import build_parser

    config = causality_config(build_parser().parse_args(["bench", "--causality", "refuse,wait"]))
    assert config.policies == ["refuse", "wait"] and config.sync_reference
    assert (config.scenario, config.load_rate, config.load_duration_s) == ("mixed", 50.0, 15.0)
    assert (config.faults, config.chaos_profile) == (["kill-db:comments", "kill-bus"], "quick")
    argv = ["bench", "--causality", "accept", "--impl", "async", "--scenario", "none"]
    argv += ["--causality-faults", "none", "--repeat", "1", "--duration", "5", "--rate", "20"]
    config = causality_config(build_parser().parse_args(argv))
    assert (config.scenario, config.faults, config.repeat) == (None, [], 1)
    assert (config.load_rate, config.load_duration_s, config.sync_reference) == (20.0, 5.0, False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scenario", "none,mixed"], "--scenario"),
        (["--scenario", "mixed,read_heavy"], "--scenario"),
        (["--closed-loop"], "open loop"),
    ],
)
def test_bench_causality_refuses_bad_load_and_fault_options(extra: list[str], message: str) -> None:
    from lab.cli.bench import causality_config
    from lab.cli.common import CliError
    from lab.cli.main import build_parser

    args = build_parser().parse_args(["bench", "--causality", "wait", *extra])
    with pytest.raises(CliError, match=message):
        causality_config(args)


def test_comments_counters_count_an_unreported_counter_as_zero_on_async_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    import lab.chaos.policy_faults as chaos_causality

    replicas = [SimpleNamespace(counters={"comments_held": 8}), SimpleNamespace(counters={})]
    monkeypatch.setattr(chaos_causality, "metrics", lambda stack, service: replicas)
    found = chaos_causality.comments_counters({"bus": {}})  # type: ignore[typeddict-item]
    assert found["comments_held"] == 8 and found["comments_rejected_unknown_post"] == 0
    assert chaos_causality.comments_counters({}) == {}  # type: ignore[typeddict-item]
