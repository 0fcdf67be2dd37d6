"""`lab report`'s findings against the committed fixture (tests/fixtures/report/, written by
its make_fixture.py): the numbers of each sentence, the "no significant difference" and "not
enough repetitions" cases, capacity flags, and a chaos run with a lost write reported as a
FAILED RUN. No figures are drawn here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from statistics import median
from typing import Any

import pytest

from lab.report.findings import Finding, findings
from lab.report.sources import Runs, select

RESULTS = Path(__file__).resolve().parent.parent / "fixtures" / "report" / "runs"
BENCH, CHAOS_OK, CHAOS_LOST, CAUSALITY = (
    "20260101T000000Z",
    "20260101T010000Z",
    "20260101T020000Z",
    "20260101T030000Z",
)


def summary(run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / run_id / "summary.json").read_text())
    return data


def p99s(impl: str, label: str, op: str) -> list[float]:
    """Each repetition's p99 of one operation, read from the fixture's raw repetitions."""
    return [
        rep["impls"][impl]["runs"][label]["operations"][op]["latency_ms"]["p99_ms"]
        for rep in summary(BENCH)["reps"]
        if label in rep["impls"][impl]["runs"]
    ]


def text_of(found: list[Finding], topic: str) -> str:
    return "\n".join("\n".join([f.text, *f.details]) for f in found if f.topic == topic)


@pytest.fixture(scope="module")
def everything() -> list[Finding]:
    return findings(select(RESULTS, [BENCH, CHAOS_OK, CHAOS_LOST, CAUSALITY]))


def test_each_operation_names_the_lower_p99_and_by_how_much(everything: list[Finding]) -> None:
    text = text_of(everything, "latency")
    comment = median(p99s("sync", "mixed@50", "CreateComment")) / median(
        p99s("async", "mixed@50", "CreateComment")
    )
    view = median(p99s("sync", "mixed@50", "GetPostView")) / median(
        p99s("async", "mixed@50", "GetPostView")
    )
    lists = median(p99s("async", "mixed@50", "ListPostViews")) / median(
        p99s("sync", "mixed@50", "ListPostViews")
    )
    assert f"CreateComment: async lower, sync's p99 {comment:.2f}× async's" in text
    assert f"GetPostView: async lower, sync's p99 {view:.2f}× async's" in text
    assert f"ListPostViews: sync lower, async's p99 {lists:.2f}× sync's" in text
    assert "sync 9.30 [9.00–9.60] ms, async 4.20 [4.00–4.40] ms" in text
    # The counts in the sentence agree with the sub-points.
    assert "sync lower for 1, async lower for 2 and no significant difference for 1 of 4" in text


def test_overlapping_ranges_are_no_significant_difference(everything: list[Finding]) -> None:
    text = text_of(everything, "latency")
    assert "CreatePost: no significant difference, the ranges overlap" in text
    assert "CreatePost: sync lower" not in text and "CreatePost: async lower" not in text


def test_one_repetition_is_not_enough_to_tell(everything: list[Finding]) -> None:
    text = text_of(everything, "latency")
    assert (
        "read_your_writes at 10/s offered (median [min–max] over repetitions): not enough " in text
    )
    assert "GetPostView: not enough repetitions to tell (n = 1 and 1;" in text


def test_capacity_with_spread_flags_and_no_share_over_100(everything: list[Finding]) -> None:
    text = text_of(everything, "capacity")
    sync = [
        rep["impls"]["sync"]["capacity"]["mixed"]["capacity_rate"] for rep in summary(BENCH)["reps"]
    ]
    assert f"sync {median(sync):g} [{min(sync):g}–{max(sync):g}] req/s" in text
    assert "async 350 [300–400] req/s" in text
    assert "above its own bare chain's in repetition 2: a measurement problem" in text
    assert "a lower bound in repetition 3" in text
    assert "Async higher, 1.56× sync's (ranges disjoint)" in text
    shares = [float(x) for x in re.findall(r"([\d.]+)(?: \[[^\]]*\])? % of its bare chain", text)]
    assert shares and all(s <= 100 for s in shares)


def test_visibility_lag_and_probe(everything: list[Finding]) -> None:
    text = text_of(everything, "lag")
    assert "p99 15.0 [14.5–17.8] ms" in text
    assert "after p99 sync 2.10 ms, async 12.0 ms" in text


def test_a_lost_write_makes_a_failed_run_and_comes_first(everything: list[Finding]) -> None:
    assert everything[0].failed
    assert everything[0].text.startswith(f"FAILED RUN: chaos run {CHAOS_LOST}")
    assert "async kill-db:comments: 1 lost" in everything[0].details
    assert any(f.failed and "1 lost" in f.text for f in everything)
    assert not any("No acknowledged write was lost" in f.text for f in everything)


def test_zero_lost_writes_is_a_finding_too() -> None:
    found = findings(select(RESULTS, [CHAOS_OK]))
    experiments = summary(CHAOS_OK)["experiments"]
    attempted = sum(e["audit"]["total"]["attempted"] for e in experiments)
    text = text_of(found, "writes")
    assert f"No acknowledged write was lost in {len(experiments)} chaos experiments" in text
    assert f"{attempted:,} writes attempted" in text
    assert not any(f.failed for f in found)
    assert "No benchmark run was given" in text_of(found, "latency")


def test_what_stayed_up_while_a_database_was_down(everything: list[Finding]) -> None:
    text = text_of(everything, "availability")
    assert (
        "the comments database down (kill-db:comments): sync kept CreatePost and GetPost "
        "(2 of 6); async kept CreatePost, GetPost, GetPostView and ListPostViews (4 of 6)"
    ) in text


def test_async_recovery_and_catch_up() -> None:
    found = findings(select(RESULTS, [CHAOS_OK]))
    text = text_of(found, "recovery")
    bus = next(e for e in summary(CHAOS_OK)["experiments"] if e["fault"] == "kill-bus")
    refused = bus["catch_up"]["refused"]
    last = bus["catch_up"]["last_refusal_after_restore_s"]
    assert f"Meanwhile {refused} comments were refused" in text
    assert f"the last {last:.3f} s after the restore (kill-bus)" in text
    convergence = sorted(
        e["convergence_s"] for e in summary(CHAOS_OK)["experiments"] if e["impl"] == "async"
    )
    assert f"[{convergence[0]:.3f}–{convergence[-1]:.2f}] s after the restore" in text


def test_no_runs_at_all_is_said() -> None:
    found = findings(Runs())
    assert {f.topic for f in found} == {"latency", "availability"}
