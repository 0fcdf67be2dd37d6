"""From repetitions to published figures (docs/METHOD.md, Noise, Capacity): every figure of a
run as the spread of its repetitions, the capacity from one load curve over every repetition's
steps (with bootstrap CIs), each pair of implementations compared figure by figure, and the
benchmark's goals read off the medians (measured, never asserted)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Literal, cast

from benchmarks.suite.capacity_fit import (
    Crossing,
    Interval,
    Point,
    bootstrap,
    capacity,
    half_width,
    interval,
    knee,
    plateau,
    ratio_interval,
)
from benchmarks.suite.profiles import (
    HALVES_FACTOR,
    SATURATED_CPU_PERCENT,
    SLO_ERROR_RATE,
    SLO_P99_MS,
)
from benchmarks.suite.results import (
    CapacityAggregate,
    Comparisons,
    CurveFigures,
    ImplAggregate,
    ImplResult,
    ImplTargets,
    LatencySummary,
    MeasuredRun,
    OperationAggregate,
    Repetition,
    RunAggregate,
    ScenarioCapacity,
    SweepResult,
    SweepStep,
    Targets,
)
from benchmarks.suite.stats import Spread, compare, spread

PERCENTILES = ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms")
HIGH_STEAL_PERCENT = 5.0  # hypervisor steal above this during a run makes it suspect
# The suite's goal for the overhead an implementation adds: each operation's p50 within 1.5x of
# the bare chain's at equal load, at 50 req/s (docs/METHOD.md, Calibration).
GOAL_P50_OVER_BARE_CHAIN = 1.5
GOAL_CAPACITY_HALF_WIDTH = 0.10  # the capacity's 95 % CI within +-10 % of it


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
            s: capacity_aggregate([r["capacity"][s] for r in results if s in r["capacity"]])
            for s in scenarios
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
    if run.get("generator_behind"):
        lag = run["generator_lag_ms"].get("p99_ms")
        reasons.append(
            f"generator behind its schedule (send lag p99 {lag} ms, "
            f"{run['generator_overflow']} arrivals not sent)"
        )
    return reasons


def point(step: SweepStep, stack: int = 0) -> Point:
    """A valid step as a point of its load curve. A step whose latency grew past the SLO
    during it counts with its second half's p99: the queue it ended with is the rate's. So
    does one whose first half was far the worse while both missed the SLO (a start-up
    transient on top of a miss: the second half is the rate's own level, and still a miss)."""
    p99 = step["p99_ms"]
    first, second = step["halves_p99_ms"]
    if step["growing"]:
        p99 = max(p99 or 0.0, first or 0.0, second or 0.0)
    elif first and second and first > HALVES_FACTOR * second and second > SLO_P99_MS:
        p99 = second
    return Point(step["offered_rate"], p99, step["error_rate"], step["goodput_rate"], stack)


def capacity_at_slo(points: Sequence[Point]) -> Crossing:
    return capacity(points, SLO_P99_MS, SLO_ERROR_RATE)


def plateau_as_crossing(points: Sequence[Point]) -> Crossing:
    """The plateau in the shape ratio_interval takes (a plateau is always an estimate)."""
    value = plateau(points)
    return Crossing(value, "estimate" if value is not None else "none")


def capacity_ratio(a: Sequence[Point], b: Sequence[Point]) -> Interval:
    """b's capacity at the SLO over a's, with its CI (paired by repetition when it can be)."""
    return ratio_interval(a, b, capacity_at_slo, random.Random(22))


def plateau_ratio(a: Sequence[Point], b: Sequence[Point]) -> Interval:
    """b's plateau over a's, with its CI (paired by repetition when it can be)."""
    return ratio_interval(a, b, plateau_as_crossing, random.Random(23))


def capacity_points(reps: Sequence[Repetition], impl: str, scenario: str) -> list[Point]:
    """One implementation's valid steps of a scenario over the run's repetitions."""
    return valid_points(
        [r["impls"][impl]["capacity"][scenario] for r in reps if impl in r["impls"]]
    )


def knee_of(points: Sequence[Point]) -> Crossing:
    return knee(points, SLO_P99_MS, SLO_ERROR_RATE)


def curve(sweeps: Sequence[SweepResult]) -> CurveFigures:
    """One load curve from every repetition's steps: capacity, knee and plateau with their
    bootstrap CIs (seeded: the same steps give the same figures), and each repetition's own
    crossing beside them."""
    points: list[Point] = []
    per_repetition: list[float | None] = []
    per_repetition_kind: list[str] = []
    invalid: list[str] = []
    for rep, sweep in enumerate(sweeps, start=1):
        mine = [point(s, rep) for s in sweep["steps"] if s["valid"]]
        own = capacity_at_slo(mine) if mine else None
        per_repetition.append(own.rate if own else None)
        per_repetition_kind.append(own.kind if own else "none")
        points += mine
        invalid += [
            f"rep {rep} at {s['offered_rate']:g}/s: {'; '.join(s['flags'])}"
            for s in sweep["steps"]
            if not s["valid"]
        ]
    rng = random.Random(20)
    cap = interval(points, capacity_at_slo, rng)
    low, high = bootstrap(points, plateau, rng)
    width = half_width(cap)
    return {
        "capacity": cap,
        "knee": interval(points, knee_of, rng),
        "plateau": {
            "value": plateau(points),
            "kind": "estimate" if points else "none",
            "low": low,
            "high": high,
            "confidence": cap["confidence"],
            "replicates": cap["replicates"],
        },
        "per_repetition": per_repetition,
        "per_repetition_kind": per_repetition_kind,
        "half_width": width,
        "resolved": cap["kind"] == "estimate"
        and width is not None
        and width <= GOAL_CAPACITY_HALF_WIDTH,
        "steps": len(points),
        "invalid_steps": invalid,
    }


def valid_points(sweeps: Sequence[SweepResult]) -> list[Point]:
    return [
        point(s, rep)
        for rep, sweep in enumerate(sweeps, start=1)
        for s in sweep["steps"]
        if s["valid"]
    ]


def capacity_aggregate(caps: Sequence[ScenarioCapacity]) -> CapacityAggregate:
    figures: CapacityAggregate = {"implementation": curve(caps)}
    bare = [c["bare_chain"] for c in caps if "bare_chain" in c]
    if bare and len(bare) == len(caps):
        figures["bare_chain"] = curve(bare)
        figures["share_of_bare_chain"] = ratio_interval(
            valid_points(bare), valid_points(caps), capacity_at_slo, random.Random(21)
        )
    return figures


def pairs(impls: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of implementations, each once, in the order given ("sync|async", ...)."""
    return [(a, b) for i, a in enumerate(impls) for b in impls[i + 1 :]]


def comparisons(agg: dict[str, ImplAggregate], reps: Sequence[Repetition] = ()) -> Comparisons:
    """Every pair of implementations, figure by figure: latency by the spread rule, capacity
    by the CI of their ratio (both sides' steps resampled)."""
    out: Comparisons = {"latency": {}, "capacity": {}}
    for a, b in pairs(list(agg)):
        pair = f"{a}|{b}"
        first, second = agg[a], agg[b]
        for label, run in first["runs"].items():
            other = second["runs"].get(label)
            if other is None:
                continue
            for op, o in run["operations"].items():
                x = other["operations"].get(op)
                if x is None:
                    continue
                out["latency"].setdefault(pair, {}).setdefault(label, {})[op] = {
                    pct: compare(o["latency_ms"][pct], x["latency_ms"][pct], names=(a, b))
                    for pct in PERCENTILES
                    if pct in o["latency_ms"] and pct in x["latency_ms"]
                }
        for scenario in first["capacity"]:
            if scenario not in second["capacity"]:
                continue
            steps_a = capacity_points(reps, a, scenario)
            steps_b = capacity_points(reps, b, scenario)
            ratio = capacity_ratio(steps_a, steps_b)
            out["capacity"].setdefault(pair, {})[scenario] = {
                "ratio": ratio,
                "verdict": _capacity_verdict(ratio, a, b),
                "plateau_ratio": plateau_ratio(steps_a, steps_b),
            }
    return out


def _capacity_verdict(ratio: Interval, a: str, b: str) -> str:
    """The side with the higher capacity when the ratio's CI excludes 1, else "~"."""
    if ratio["low"] is None or ratio["high"] is None or ratio["kind"] != "estimate":
        return "n/a"
    if ratio["low"] > 1:
        return b
    if ratio["high"] < 1:
        return a
    return "~"


def targets(agg: dict[str, ImplAggregate]) -> Targets:
    """How close each implementation came to the benchmark's goals, on the medians."""
    out: Targets = {
        "p50_over_bare_chain_max": GOAL_P50_OVER_BARE_CHAIN,
        "capacity_half_width_max": GOAL_CAPACITY_HALF_WIDTH,
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
        widths = {s: c["implementation"]["half_width"] for s, c in a["capacity"].items()}
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
            "capacity_half_width": widths or None,
            "capacity_within_10_percent": (
                all(x is not None and x <= GOAL_CAPACITY_HALF_WIDTH for x in widths.values())
                if widths
                else None
            ),
        }
        out[impl] = impl_targets
    return out
