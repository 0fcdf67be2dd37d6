"""From repetitions to published figures (docs/METHOD.md, Noise): every figure of a run as the
spread of its repetitions, sync and async compared figure by figure, and the benchmark's goals
read off the medians (measured, never asserted)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, cast

from benchmarks.suite.profiles import SATURATED_CPU_PERCENT
from benchmarks.suite.results import (
    CapacityAggregate,
    Comparisons,
    ImplAggregate,
    ImplResult,
    ImplTargets,
    LatencySummary,
    MeasuredRun,
    OperationAggregate,
    Repetition,
    RunAggregate,
    ScenarioCapacity,
    Targets,
)
from benchmarks.suite.stats import Spread, compare, relative_range, spread

PERCENTILES = ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms")
HIGH_STEAL_PERCENT = 5.0  # hypervisor steal above this during a run makes it suspect
GOAL_P50_OVER_BARE_CHAIN = 1.5  # at 50 req/s (the benchmark issue's goal)
GOAL_CAPACITY_RELATIVE_RANGE = 0.10  # capacity moves by no more than this across repetitions


def per_impl(reps: Sequence[Repetition], impl: str) -> list[ImplResult]:
    return [r["impls"][impl] for r in reps if impl in r["impls"]]


def aggregate(results: Sequence[ImplResult]) -> ImplAggregate:
    """One implementation's figures over its repetitions."""
    floors = sorted({op for r in results for op in r["floors_ms"]})
    labels = list(dict.fromkeys(label for r in results for label in r["runs"]))
    scenarios = list(dict.fromkeys(s for r in results for s in r["capacity"]))
    return {
        "floors_ms": {
            op: s for op in floors if (s := spread(r["floors_ms"].get(op) for r in results))
        },
        "runs": {label: run_aggregate([r["runs"].get(label) for r in results]) for label in labels},
        "capacity": {
            s: capacity_aggregate([r["capacity"].get(s) for r in results]) for s in scenarios
        },
    }


def run_aggregate(runs: Sequence[MeasuredRun | None]) -> RunAggregate:
    present = [r for r in runs if r is not None]
    first = present[0]
    parts = components(present)
    ops = list(dict.fromkeys(op for r in present for op in r["operations"]))
    return {
        "scenario": first["scenario"],
        "offered_rate": first["offered_rate"],
        "achieved_rate": must(spread(r["achieved_rate"] for r in present)),
        "operations": {op: operation_aggregate(present, op) for op in ops},
        "lag_ms": histograms_spread([r.get("visibility_lag_ms", {}) for r in present]),
        "probe_ms": histograms_spread([r["probe_ms"] for r in present]),
        "cpu_s_per_1000_ok": {
            c: must(spread(usage(r, c, "cpu_s") for r in present)) for c in parts
        },
        "peak_mb": {c: must(spread(usage(r, c, "peak_mb") for r in present)) for c in parts},
        "invalid": [
            f"rep {i}: {why}"
            for i, r in enumerate(runs, start=1)
            if r is not None
            for why in invalid_reasons(r)
        ],
    }


def usage(run: MeasuredRun, component: str, what: Literal["cpu_s", "peak_mb"]) -> float | None:
    used = run["cost"]["per_1000_ok"].get(component)
    return None if used is None else used[what]


def components(runs: Sequence[MeasuredRun]) -> list[str]:
    return list(dict.fromkeys(c for r in runs for c in r["cost"]["per_1000_ok"]))


def must(s: Spread | None) -> Spread:
    if s is None:
        raise ValueError("a figure every repetition has was missing")
    return s


def percentile(summary: LatencySummary | None, pct: str) -> float | None:
    return None if summary is None else cast(Mapping[str, float], summary).get(pct)


def operation_aggregate(runs: Sequence[MeasuredRun], op: str) -> OperationAggregate:
    mine = [r["operations"].get(op) for r in runs]
    latency = {
        pct: s
        for pct in PERCENTILES
        if (s := spread(percentile(o["latency_ms"], pct) if o else None for o in mine))
    }
    return {
        "latency_ms": latency,
        "error_rate": must(spread(o["error_rate"] for o in mine if o)),
        "vs_floor": spread(r.get("vs_floor", {}).get(op) for r in runs),
        "vs_bare_chain": spread(r.get("vs_bare_chain", {}).get(op) for r in runs),
    }


def histograms_spread(per_rep: Sequence[dict[str, LatencySummary]]) -> dict[str, dict[str, Spread]]:
    """Summaries of named histograms (one dict per repetition) as percentile spreads."""
    names = list(dict.fromkeys(n for h in per_rep for n in h))
    out: dict[str, dict[str, Spread]] = {}
    for name in names:
        pcts = {
            pct: s
            for pct in PERCENTILES
            if (s := spread(percentile(h.get(name), pct) for h in per_rep))
        }
        if pcts:
            out[name] = pcts
    return out


def invalid_reasons(run: MeasuredRun) -> list[str]:
    """Why one repetition of a run is suspect (it stays in the figures, flagged)."""
    reasons = []
    if run["generator_saturated"]:
        cpu = run["generator_cpu_percent"]["mean"]
        reasons.append(f"generator saturated ({cpu:.0f}% >= {SATURATED_CPU_PERCENT:.0f}%)")
    steal = run.get("machine", {}).get("steal_percent")
    if steal is not None and steal > HIGH_STEAL_PERCENT:
        reasons.append(f"high steal ({steal:.1f}%)")
    if run["offered_rate"] and run["achieved_rate"] < 0.9 * run["offered_rate"]:
        reasons.append(f"achieved {run['achieved_rate']:.1f}/s of {run['offered_rate']:g}/s")
    return reasons


def capacity_aggregate(caps: Sequence[ScenarioCapacity | None]) -> CapacityAggregate:
    indexed = [(i, c) for i, c in enumerate(caps, start=1) if c is not None]
    rates = spread(c["capacity_rate"] for _, c in indexed)
    return {
        "capacity_rate": rates,
        "bare_chain_rate": spread(c["bare_chain"]["capacity_rate"] for _, c in indexed),
        "share_of_bare_chain": spread(c["share_of_bare_chain"] for _, c in indexed),
        "relative_range": relative_range(rates) if rates else None,
        "flags": {
            "over_bare_chain": [i for i, c in indexed if c["over_bare_chain"]],
            "lower_bound": [i for i, c in indexed if c["note"] is not None],
        },
    }


def comparisons(agg: dict[str, ImplAggregate]) -> Comparisons:
    """sync vs async for every figure both have (empty when one side did not run)."""
    out: Comparisons = {"latency": {}, "capacity": {}}
    if not {"sync", "async"} <= agg.keys():
        return out
    sync, async_ = agg["sync"], agg["async"]
    for label, run in sync["runs"].items():
        other = async_["runs"].get(label)
        if other is None:
            continue
        for op, o in run["operations"].items():
            a = other["operations"].get(op)
            if a is None:
                continue
            out["latency"].setdefault(label, {})[op] = {
                pct: compare(o["latency_ms"][pct], a["latency_ms"][pct])
                for pct in PERCENTILES
                if pct in o["latency_ms"] and pct in a["latency_ms"]
            }
    for scenario, cap in sync["capacity"].items():
        a_cap = async_["capacity"].get(scenario)
        if cap["capacity_rate"] and a_cap and a_cap["capacity_rate"]:
            out["capacity"][scenario] = compare(
                cap["capacity_rate"], a_cap["capacity_rate"], higher_is_better=True
            )
    return out


def targets(agg: dict[str, ImplAggregate]) -> Targets:
    """How close each implementation came to the benchmark's goals, on the medians."""
    out: Targets = {
        "p50_over_bare_chain_max": GOAL_P50_OVER_BARE_CHAIN,
        "capacity_relative_range_max": GOAL_CAPACITY_RELATIVE_RANGE,
    }
    for impl, a in agg.items():
        over_bare = {
            f"{label}/{op}": o["vs_bare_chain"]["median"]
            for label, run in a["runs"].items()
            for op, o in run["operations"].items()
            if o["vs_bare_chain"]
        }
        over_floor = {
            f"{label}/{op}": o["vs_floor"]["median"]
            for label, run in a["runs"].items()
            for op, o in run["operations"].items()
            if o["vs_floor"]
        }
        moved = {s: c["relative_range"] for s, c in a["capacity"].items()}
        impl_targets: ImplTargets = {
            "p50_over_floor": over_floor,
            "p50_over_bare_chain": over_bare,
            "p50_within_1_5x_bare_chain": (
                all(x <= GOAL_P50_OVER_BARE_CHAIN for x in over_bare.values())
                if over_bare
                else None
            ),
            "invalid_runs": [
                f"{label}: {why}" for label, run in a["runs"].items() for why in run["invalid"]
            ],
            "visibility_lag_p99_ms": {
                label: run["lag_ms"]["visibility_lag_us"]["p99_ms"]["median"]
                for label, run in a["runs"].items()
                if "p99_ms" in run["lag_ms"].get("visibility_lag_us", {})
            }
            or None,
            "capacity_relative_range": moved or None,
            "capacity_within_10_percent": (
                all(x is not None and x <= GOAL_CAPACITY_RELATIVE_RANGE for x in moved.values())
                if moved
                else None
            ),
        }
        out[impl] = impl_targets
    return out
