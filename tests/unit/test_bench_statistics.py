"""The benchmark's statistics on synthetic repetitions: spread, significance labels, capacity
over repetitions and the over-100 % flag (docs/METHOD.md, Noise and Capacity)."""

from __future__ import annotations

from typing import cast

import pytest

from benchmarks.suite import aggregate
from benchmarks.suite.profiles import Profile
from benchmarks.suite.results import (
    ImplResult,
    MeasuredRun,
    Repetition,
    ScenarioCapacity,
    SweepResult,
)
from benchmarks.suite.stats import compare, relative_range, share_of_bare_chain, spread, verdict
from benchmarks.suite.sweep import capacity, next_rate
from benchmarks.suite.sweep import compare as compare_sweeps


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


def test_a_capacity_above_its_bare_chain_is_never_a_share() -> None:
    assert share_of_bare_chain(300, 400) == 0.75
    assert share_of_bare_chain(350, 300) is None  # 117 %: a measurement problem
    assert share_of_bare_chain(None, 300) is None
    assert share_of_bare_chain(300, None) is None


def sweep_result(rates_met: dict[float, bool]) -> SweepResult:
    steps = [
        {
            "offered_rate": r,
            "meets_slo": ok,
            "achieved_rate": r,
            "p99_ms": 10.0 if ok else 90.0,
            "error_rate": 0.0,
            "generator_saturated": False,
            "steal_percent": 0.0,
        }
        for r, ok in rates_met.items()
    ]
    best = capacity(steps)  # type: ignore[arg-type]
    missed = not all(rates_met.values())
    return cast(
        SweepResult,
        {
            "slo": {"p99_ms": 50.0, "error_rate": 0.001},
            "capacity_rate": best,
            "steps": steps,
            "note": None if missed else "never missed: capacity is higher",
        },
    )


def test_sweep_comparison_flags_over_bare_chain() -> None:
    real = sweep_result({200: True, 300: True, 350: True, 400: False})
    bare = sweep_result({200: True, 300: True, 350: False})
    cap = compare_sweeps(real, bare)
    assert cap["capacity_rate"] == 350 and cap["bare_chain"]["capacity_rate"] == 300
    assert cap["over_bare_chain"] and cap["share_of_bare_chain"] is None
    fine = compare_sweeps(sweep_result({200: True, 300: False}), bare)
    assert not fine["over_bare_chain"] and fine["share_of_bare_chain"] == pytest.approx(200 / 300)


def test_sweep_bisects_below_the_first_rate_when_it_misses() -> None:
    profile = Profile(("mixed",), 1, 1, (200, 400), ("mixed",), 1, 1, 1, refine_steps=2)
    steps = [{"offered_rate": 200.0, "meets_slo": False}]
    assert next_rate(steps, profile) == 200.0  # a miss is confirmed first
    steps.append({"offered_rate": 200.0, "meets_slo": False})
    assert next_rate(steps, profile) == 100.0
    steps.append({"offered_rate": 100.0, "meets_slo": True})
    assert next_rate(steps, profile) == 150.0
    steps.append({"offered_rate": 150.0, "meets_slo": True})
    assert next_rate(steps, profile) is None  # refine_steps bisections done
    assert capacity(steps) == 150.0  # type: ignore[arg-type]


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


def impl_result(impl: str, r: MeasuredRun, cap: float, bare_cap: float) -> ImplResult:
    caps = compare_sweeps(
        sweep_result({cap: True, cap + 50: False}),
        sweep_result({bare_cap: True, bare_cap + 50: False}),
    )
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
                "async": impl_result("async", run(4.0, 30.0, 2.0, lag_p99=9.0), 250, 400),
            },
        },
        {
            "rep": 2,
            "order": ["async", "sync"],
            "impls": {
                "sync": impl_result("sync", run(2.2, 12.0, 1.7), 450, 400),  # over its chain
                "async": impl_result("async", run(4.4, 11.0, 2.1, lag_p99=31.0), 250, 400),
            },
        },
    ]
    figures = {i: aggregate.aggregate(aggregate.per_impl(reps, i)) for i in ("sync", "async")}
    op = figures["sync"]["runs"]["mixed@50"]["operations"]["CreatePost"]
    assert op["latency_ms"]["p50_ms"]["median"] == pytest.approx(2.1)
    assert op["vs_bare_chain"] is not None
    assert op["vs_bare_chain"]["values"] == [1.25, pytest.approx(2.2 / 1.7)]
    cmp = aggregate.comparisons(figures)
    p50 = cmp["latency"]["mixed@50"]["CreatePost"]["p50_ms"]
    p99 = cmp["latency"]["mixed@50"]["CreatePost"]["p99_ms"]
    assert p50["verdict"] == "sync" and p50["ratio"] == pytest.approx(4.2 / 2.1)
    assert p99["verdict"] == "~"  # async 11-30 overlaps sync 10-12
    sync_cap = figures["sync"]["capacity"]["mixed"]
    assert sync_cap["flags"]["over_bare_chain"] == [2]
    assert sync_cap["share_of_bare_chain"] is not None
    assert sync_cap["share_of_bare_chain"]["values"] == [0.75]  # rep 2 has no share
    assert sync_cap["relative_range"] == pytest.approx(150 / 375)
    assert cmp["capacity"]["mixed"]["verdict"] == "sync"
    goals = aggregate.targets(figures)
    sync_goals, async_goals = goals["sync"], goals["async"]
    assert isinstance(sync_goals, dict) and isinstance(async_goals, dict)
    assert sync_goals["capacity_within_10_percent"] is False
    assert async_goals["capacity_within_10_percent"] is True
    assert async_goals["visibility_lag_p99_ms"] == {"mixed@50": 20.0}
    assert async_goals["p50_within_1_5x_bare_chain"] is False  # 4.0 / 2.0 = 2.0


def test_a_suspect_repetition_is_flagged_not_dropped() -> None:
    bad = run(2.0, 10.0, 1.6)
    bad["generator_saturated"] = True
    bad["machine"] = {"busy_percent": 90.0, "steal_percent": 12.0}
    agg = aggregate.run_aggregate([run(2.0, 10.0, 1.6), bad])
    assert agg["achieved_rate"]["n"] == 2
    assert len(agg["invalid"]) == 2 and all(w.startswith("rep 2:") for w in agg["invalid"])
