"""How far the capacity moves between repetitions, and the data behind it: every sweep step that
ran twice at the same rate (a miss is confirmed by a second run: docs/METHOD.md, Capacity), with
both p99s and the machine's steal. Two runs of one rate, back to back on the same stack, are
as close as this machine gets to measuring the same thing twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.report import fmt, sections
from lab.report.model import IMPLS, Finding, swept_scenarios
from lab.report.sources import BenchRun
from lab.report.tables import table

GOAL_CAPACITY_RELATIVE_RANGE = 0.10  # the goal old bisection sweeps were judged by


@dataclass(frozen=True)
class Retried:
    """One rate of one sweep run more than once."""

    impl: str
    rep: int
    sweep: str  # "implementation" or "bare chain"
    rate: float
    p99_ms: tuple[float, ...]
    steal_percent: float | None

    @property
    def spread(self) -> float:
        """The slowest try's p99 over the fastest's."""
        return max(self.p99_ms) / min(self.p99_ms) if min(self.p99_ms) > 0 else float("inf")


def _steps(cap: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        ("implementation", list(cap.get("steps", []))),
        ("bare chain", list((cap.get("bare_chain") or {}).get("steps", []))),
    ]


def retried(bench: BenchRun, scenario: str) -> list[Retried]:
    """Every rate that a sweep of `scenario` ran more than once, in run order."""
    out = []
    for rep in bench.doc.get("reps", []):
        for impl in IMPLS:
            cap = rep["impls"].get(impl, {}).get("capacity", {}).get(scenario)
            for sweep, steps in _steps(cap or {}):
                by_rate: dict[float, list[dict[str, Any]]] = {}
                for step in steps:
                    by_rate.setdefault(float(step["offered_rate"]), []).append(step)
                for rate, tries in by_rate.items():
                    p99s = tuple(t["p99_ms"] for t in tries if t.get("p99_ms") is not None)
                    if len(p99s) > 1:
                        steal = [
                            t["steal_percent"] for t in tries if t.get("steal_percent") is not None
                        ]
                        out.append(
                            Retried(impl, rep["rep"], sweep, rate, p99s, max(steal, default=None))
                        )
    return out


def scenarios(bench: BenchRun) -> list[str]:
    """The scenarios either implementation swept, in the summary's order."""
    return swept_scenarios(bench.doc)


def _goal(doc: dict[str, Any]) -> float:
    goal = doc.get("targets", {}).get("capacity_relative_range_max")
    return float(GOAL_CAPACITY_RELATIVE_RANGE if goal is None else goal)


def finding(bench: BenchRun, scenario: str) -> Finding | None:
    """How far the capacity moved against the goal, and how far one rate's p99 moves."""
    doc = bench.doc
    moved = []
    for impl in IMPLS:
        cap = doc.get("aggregate", {}).get(impl, {}).get("capacity", {}).get(scenario)
        if cap and cap.get("relative_range") is not None and cap["capacity_rate"]["n"] > 1:
            moved.append(f"{impl} {fmt.share(cap['relative_range'])}")
    if not moved:
        return None
    goal = _goal(doc)
    text = (
        f"The capacity ({scenario}) moved across repetitions by {', '.join(moved)} of its "
        f"median (goal: at most {fmt.share(goal)})."
    )
    tries = retried(bench, scenario)
    if tries:
        worst = max(tries, key=lambda t: t.spread)
        steal = max((t.steal_percent for t in tries if t.steal_percent is not None), default=0.0)
        text += (
            f" Noise at one rate is as large: of {len(tries)} rates a sweep ran twice, back to "
            f"back on the same stack, the two p99s differed by up to {fmt.ratio(worst.spread)} "
            f"({worst.impl} {worst.sweep}, {fmt.rate(worst.rate)}: "
            f"{' and '.join(fmt.num(p) for p in worst.p99_ms)} ms) while the machine's steal "
            f"stayed at or below {steal:.1f} %."
        )
    return Finding("capacity", text, sections.LOAD)


def lines(bench: BenchRun, scenario: str) -> list[str]:
    """The table of retried rates (nothing when no rate was run twice)."""
    rows = [
        [
            t.impl,
            str(t.rep),
            t.sweep,
            fmt.rate(t.rate),
            " / ".join(fmt.num(p) for p in t.p99_ms),
            fmt.ratio(t.spread),
            "-" if t.steal_percent is None else f"{t.steal_percent:.2f} %",
        ]
        for t in retried(bench, scenario)
    ]
    if not rows:
        return []
    return [
        f"Rates a sweep of {scenario} ran twice (a miss is run again before the sweep believes "
        "it): the p99 of each run, ms, how far apart, and the highest steal of the runs.",
        "",
        *table(["impl", "rep", "sweep", "rate", "p99 of each run", "apart", "steal"], rows),
    ]
