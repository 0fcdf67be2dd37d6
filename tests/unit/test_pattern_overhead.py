"""The resilience patterns' cost at normal load (benchmarks/suite/overhead.py): sync-resilient
over sync, paired by repetition, on synthetic repetitions with exact expected ratios."""

from __future__ import annotations

from typing import cast

import pytest

from benchmarks.suite.overhead import overhead_lines, pattern_overhead
from benchmarks.suite.results import MeasuredRun, Repetition


def run(p50: float, p99: float, cpu_s: float) -> MeasuredRun:
    usage = {"cpu_s": cpu_s / 4, "peak_mb": 50.0}
    return cast(
        MeasuredRun,
        {
            "operations": {
                "GetPostView": {"latency_ms": {"count": 100, "p50_ms": p50, "p99_ms": p99}}
            },
            "cost": {
                "per_1000_ok": {
                    **{name: usage for name in ("posts", "comments", "moderation", "query")},
                    "postgres-posts": {"cpu_s": 100.0, "peak_mb": 1.0},  # not the patterns'
                }
            },
        },
    )


def rep(n: int, sync: MeasuredRun, resilient: MeasuredRun) -> Repetition:
    impls = {
        "sync": {"runs": {"mixed@50": sync}},
        "sync-resilient": {"runs": {"mixed@50": resilient}},
    }
    return cast(Repetition, {"rep": n, "order": list(impls), "impls": impls})


def test_overhead_is_the_ratio_within_each_repetition() -> None:
    reps = [
        rep(1, run(2.0, 10.0, 4.0), run(2.1, 11.0, 4.4)),
        rep(2, run(3.0, 12.0, 5.0), run(3.3, 12.0, 5.0)),  # a slower machine: both slower
    ]
    overhead = pattern_overhead(reps)["mixed@50"]
    view = overhead["operations"]["GetPostView"]
    assert view["p50_ratio"] is not None and view["p50_ratio"]["values"] == pytest.approx(
        [1.05, 1.1]
    )
    assert view["p99_ratio"] is not None and view["p99_ratio"]["values"] == pytest.approx(
        [1.1, 1.0]
    )
    # The p50 ranges over the repetitions overlap ([2.0-3.0] vs [2.1-3.3]): no difference.
    assert view["p50_verdict"] == "~"
    cpu = overhead["services_cpu_ratio"]
    assert cpu is not None and cpu["values"] == pytest.approx([1.1, 1.0])
    text = "\n".join(overhead_lines({"mixed@50": overhead}))
    assert "p50 x1.075 [1.050-1.100]" in text and "CPU per 1,000 ok x1.050 [1.000-1.100]" in text


def test_no_overhead_without_both_sync_variants() -> None:
    only_sync = cast(Repetition, {"rep": 1, "order": ["sync"], "impls": {"sync": {"runs": {}}}})
    assert pattern_overhead([only_sync]) == {}
    assert overhead_lines({}) == []
