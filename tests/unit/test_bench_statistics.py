"""The benchmark's statistics on synthetic repetitions: spread, significance labels, capacity
over repetitions and the over-100 % flag (docs/METHOD.md, Noise and Capacity)."""

from __future__ import annotations

import math
from typing import cast

import pytest

from benchmarks.suite import aggregate
from benchmarks.suite.results import (
    ImplResult,
    MeasuredRun,
    Repetition,
    ScenarioCapacity,
    SweepResult,
    SweepStep,
)
from benchmarks.suite.stats import compare, relative_range, spread, verdict


def test_spread_is_median_and_range_of_what_exists() -> None:
    s = spread([3.0, None, 1.0, 2.0, 10.0])
    assert s is not None
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.5, 1.0, 10.0, 4)
    assert s["values"] == [3.0, 1.0, 2.0, 10.0]  # run order kept
    assert spread([None, None]) is None
    assert relative_range(must(spread([90.0, 100.0, 110.0]))) == pytest.approx(0.2)


def must(s: object) -> dict:  # type: ignore[type-arg]
    assert s is not None
    return cast(dict, s)  # type: ignore[type-arg]


@pytest.mark.parametrize(
    ("sync", "async_", "higher_is_better", "expected"),
    [
        ([1.0, 1.2, 1.1], [2.0, 2.5, 2.2], False, "sync"),  # disjoint: sync lower
        ([3.0, 3.5], [2.0, 2.9], False, "async"),
        ([1.0, 2.0, 3.0], [2.5, 3.5, 4.0], False, "~"),  # overlap: no significant difference
        ([1.0, 1.0], [1.0, 1.0], False, "~"),  # equal is no difference
        ([1.0], [5.0], False, "n/a"),  # one repetition shows no spread: nothing can be claimed
        ([300.0, 350.0], [200.0, 250.0], True, "sync"),  # capacity: higher is better
    ],
)
def test_verdict_only_beyond_the_spread(
    sync: list[float], async_: list[float], higher_is_better: bool, expected: str
) -> None:
    a, b = must(spread(sync)), must(spread(async_))
    assert verdict(a, b, higher_is_better) == expected  # type: ignore[arg-type]
    cmp = compare(a, b, higher_is_better)  # type: ignore[arg-type]
    assert cmp["verdict"] == expected
    assert cmp["ratio"] == pytest.approx(b["median"] / a["median"])


def run(p50: float, p99: float, bare_p50: float, lag_p99: float | None = None) -> MeasuredRun:
    op = {
        "ok": 100,
        "errors": {},
        "error_rate": 0.0,
        "latency_ms": {"count": 100, "p50_ms": p50, "p99_ms": p99},
        "service_time_ms": {"count": 100},
    }
    r = {
        "scenario": "mixed",
        "offered_rate": 50.0,
        "achieved_rate": 50.0,
        "operations": {"CreatePost": op},
        "probe_ms": {},
        "generator_saturated": False,
        "generator_cpu_percent": {"mean": 10.0, "max": 20.0},
        "machine": {"busy_percent": 50.0, "steal_percent": 0.0},
        "cost": {"per_1000_ok": {"posts": {"cpu_s": 1.0, "peak_mb": 50.0}}},
        "vs_floor": {"CreatePost": p50 / 1.0},
        "vs_bare_chain": {"CreatePost": p50 / bare_p50},
    }
    if lag_p99 is not None:
        r["visibility_lag_ms"] = {"visibility_lag_us": {"count": 10, "p99_ms": lag_p99}}
    return cast(MeasuredRun, r)


def grid_step(rate: float, p99_ms: float, **overrides: object) -> SweepStep:
    step = {
        "phase": "grid",
        "offered_rate": rate,
        "achieved_rate": rate,
        "p99_ms": p99_ms,
        "halves_p99_ms": [p99_ms, p99_ms],
        "error_rate": 0.0,
        "goodput_rate": rate if p99_ms <= 50 else rate / 2,
        "generator_lag_p99_ms": 1.0,
        "generator_saturated": False,
        "steal_percent": 0.0,
        "meets_slo": p99_ms <= 50,
        "growing": False,
        "valid": True,
        "flags": [],
    }
    step.update(overrides)
    return cast(SweepStep, step)


def sweep_result(capacity_rate: float, noise: float = 1.0) -> SweepResult:
    """Steps at 100..600/s of a curve whose p99 is 10 ms at 100/s and crosses 50 ms at
    `capacity_rate` (log-linear), each p99 times `noise`."""
    slope = math.log10(5) / (capacity_rate - 100)
    steps = [grid_step(r, noise * 10 ** (1 + slope * (r - 100))) for r in range(100, 601, 50)]
    return {
        "slo": {"p99_ms": 50.0, "error_rate": 0.001},
        "pilot": [],
        "grid": [s["offered_rate"] for s in steps],
        "steps": steps,
    }


def impl_result(
    impl: str, r: MeasuredRun, cap: float, bare_cap: float, noise: float = 1.0
) -> ImplResult:
    caps = {**sweep_result(cap, noise), "bare_chain": sweep_result(bare_cap)}
    return cast(
        ImplResult,
        {
            "impl": impl,
            "stack": {"services": {}},
            "calibration_ms": {},
            "floors_ms": {"CreatePost": 1.0},
            "runs": {"mixed@50": r},
            "capacity": {"mixed": cast(ScenarioCapacity, caps)},
        },
    )


def test_aggregate_and_compare_over_repetitions() -> None:
    reps: list[Repetition] = [
        {
            "rep": 1,
            "order": ["sync", "async"],
            "impls": {
                "sync": impl_result("sync", run(2.0, 10.0, 1.6), 300, 400),
                "async": impl_result("async", run(4.0, 30.0, 2.0, lag_p99=9.0), 450, 500),
            },
        },
        {
            "rep": 2,
            "order": ["async", "sync"],
            "impls": {
                "sync": impl_result("sync", run(2.2, 12.0, 1.7), 300, 400, noise=1.05),
                "async": impl_result("async", run(4.4, 11.0, 2.1, lag_p99=31.0), 450, 500),
            },
        },
    ]
    figures = {i: aggregate.aggregate(aggregate.per_impl(reps, i)) for i in ("sync", "async")}
    op = figures["sync"]["runs"]["mixed@50"]["operations"]["CreatePost"]
    assert op["latency_ms"]["p50_ms"]["median"] == pytest.approx(2.1)
    assert op["vs_bare_chain"] is not None
    assert op["vs_bare_chain"]["values"] == [1.25, pytest.approx(2.2 / 1.7)]
    cmp = aggregate.comparisons(figures, reps)
    p50 = cmp["latency"]["sync|async"]["mixed@50"]["CreatePost"]["p50_ms"]
    p99 = cmp["latency"]["sync|async"]["mixed@50"]["CreatePost"]["p99_ms"]
    assert p50["verdict"] == "sync" and p50["ratio"] == pytest.approx(4.2 / 2.1)
    assert p99["verdict"] == "~"  # async 11-30 overlaps sync 10-12
    sync_cap = figures["sync"]["capacity"]["mixed"]
    curve = sync_cap["implementation"]
    assert curve["capacity"]["kind"] == "estimate" and curve["steps"] == 22
    assert curve["capacity"]["value"] == pytest.approx(300, rel=0.03)
    assert curve["per_repetition"][0] == pytest.approx(300, rel=1e-6)
    assert curve["resolved"] and curve["half_width"] is not None and curve["half_width"] < 0.1
    assert sync_cap["bare_chain"]["capacity"]["value"] == pytest.approx(400, rel=1e-6)
    assert sync_cap["share_of_bare_chain"]["value"] == pytest.approx(0.75, rel=0.03)
    capacity_cmp = cmp["capacity"]["sync|async"]["mixed"]
    assert capacity_cmp["verdict"] == "async"
    assert capacity_cmp["ratio"]["value"] == pytest.approx(1.5, rel=0.03)
    # The plateaus (most goodput: 300 and 450/s) with their ratio, paired by repetition.
    plateaus = capacity_cmp["plateau_ratio"]
    assert plateaus["value"] == pytest.approx(1.5)
    assert plateaus["low"] is not None and plateaus["high"] is not None
    assert plateaus["low"] <= 1.5 <= plateaus["high"]
    goals = aggregate.targets(figures)
    sync_goals, async_goals = goals["sync"], goals["async"]
    assert isinstance(sync_goals, dict) and isinstance(async_goals, dict)
    assert sync_goals["capacity_within_10_percent"] is True
    assert async_goals["visibility_lag_p99_ms"] == {"mixed@50": 20.0}
    assert async_goals["p50_within_1_5x_bare_chain"] is False  # 4.0 / 2.0 = 2.0


def test_invalid_steps_stay_out_of_the_fit_and_are_listed() -> None:
    sweep = sweep_result(300)
    sweep["steps"][0] = grid_step(100, 900.0, valid=False, flags=["generator send lag p99 40 ms"])
    curve = aggregate.curve([sweep])
    assert curve["steps"] == len(sweep["steps"]) - 1
    assert curve["invalid_steps"] == ["rep 1 at 100/s: generator send lag p99 40 ms"]
    assert curve["capacity"]["value"] == pytest.approx(300, rel=1e-6)


def test_a_step_whose_queue_grew_counts_with_its_worse_half() -> None:
    step = grid_step(250, 20.0, halves_p99_ms=[10.0, 400.0], growing=True)
    assert aggregate.point(step).p99_ms == 400.0


def test_a_suspect_repetition_is_flagged_not_dropped() -> None:
    bad = run(2.0, 10.0, 1.6)
    bad["generator_saturated"] = True
    bad["machine"] = {"busy_percent": 90.0, "steal_percent": 12.0}
    agg = aggregate.run_aggregate([run(2.0, 10.0, 1.6), bad])
    assert agg["achieved_rate"]["n"] == 2
    assert len(agg["invalid"]) == 2 and all(w.startswith("rep 2:") for w in agg["invalid"])


def test_a_capacity_swept_without_its_bare_chain_has_no_share() -> None:
    # `lab bench --no-bare-sweep`: the implementation's curve alone, no floor to take a share of.
    caps = [cast(ScenarioCapacity, sweep_result(300)) for _ in range(2)]
    figures = aggregate.capacity_aggregate(caps)
    assert figures["implementation"]["capacity"]["value"] == pytest.approx(300, rel=1e-6)
    assert "bare_chain" not in figures and "share_of_bare_chain" not in figures
