"""The capacity section: per variant and scenario the capacity at the SLO with its 95 % CI,
whether it is resolved to the goal, the knee and the plateau, each repetition's own crossing,
the bare chain's figures and the share, the invalid steps; and every pair of variants' ratio
(docs/METHOD.md, Capacity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.suite.aggregate import capacity_points, plateau_ratio
from benchmarks.suite.capacity_fit import Interval
from benchmarks.suite.drift import echo_p50_ms
from lab.report import fmt
from lab.report.sources import Run
from lab.report.tables import table


def interval(i: Mapping[str, Any] | None, digits: int = 0) -> str:
    """An Interval (benchmarks/suite/capacity_fit.py) as the report writes it."""
    if not i or i.get("value") is None:
        return "-"
    value = f"{i['value']:,.{digits}f}"
    if i.get("kind") == "lower_bound":
        return f">= {value}"
    if i.get("kind") == "upper_bound":
        return f"<= {value}"
    if i.get("kind") == "none":
        return "n/a"
    if i.get("low") is None or i.get("high") is None:
        return value
    return f"{value} [{i['low']:,.{digits}f}{fmt.DASH}{i['high']:,.{digits}f}]"


def per_repetition(values: list[float | None], kinds: list[str] | None = None) -> str:
    """Each repetition's own crossing; a bound is written as one (>= the grid's top)."""
    kinds = kinds or ["estimate"] * len(values)
    marks = {"lower_bound": ">= ", "upper_bound": "<= "}
    return (
        ", ".join(
            "-" if v is None else f"{marks.get(k, '')}{v:,.0f}"
            for v, k in zip(values, kinds, strict=False)
        )
        or "-"
    )


def resolution(curve: dict[str, Any]) -> str:
    """Whether a capacity meets the goal (a crossing with a CI within +-10 %), and if not why:
    a bound (the curve did not cross the SLO within the grid) or the CI's half-width."""
    if curve.get("resolved"):
        return "yes"
    kind = (curve.get("capacity") or {}).get("kind")
    if kind in ("lower_bound", "upper_bound"):
        return "no (a bound)"
    if kind == "none":
        return "no (no valid steps)"
    width = curve.get("half_width")
    return "no" if width is None else f"no (±{width:.0%})"


def _plateau_ratio(doc: dict[str, Any], a: str, b: str, scenario: str) -> Interval:
    """For a run from before its summary kept the plateaus' ratio: computed from its steps."""
    reps = doc.get("reps", [])
    return plateau_ratio(capacity_points(reps, a, scenario), capacity_points(reps, b, scenario))


def section(bench: Run) -> list[str]:
    doc = bench.summary
    rows = []
    invalid: list[str] = []
    for impl, agg in doc.get("aggregate", {}).items():
        for scenario, cap in agg.get("capacity", {}).items():
            curve, bare = cap["implementation"], cap.get("bare_chain")
            rows.append(
                [
                    scenario,
                    impl,
                    interval(curve["capacity"]),
                    resolution(curve),
                    interval(curve["knee"]),
                    interval(curve["plateau"]),
                    per_repetition(
                        curve.get("per_repetition", []), curve.get("per_repetition_kind")
                    ),
                    interval(bare["capacity"]) if bare else "not swept",
                    interval(cap.get("share_of_bare_chain"), 2),
                    str(curve.get("steps", 0)),
                ]
            )
            invalid += [f"{impl} {scenario}: {why}" for why in curve.get("invalid_steps", [])]
            invalid += [
                f"{impl} {scenario} bare chain: {why}"
                for why in (bare or {}).get("invalid_steps", [])
            ]
    if not rows:
        return ["The benchmark run has no capacity steps.", ""]
    out = [
        "Requests/s offered. Capacity: where the load curve fitted to every valid step of every "
        "repetition crosses the SLO, 95 % bootstrap confidence interval in brackets; *resolved*: "
        "a crossing within the grid whose CI is within ±10 % (the goal). Knee: where the fitted "
        "p99 has doubled from the lowest rate's; plateau: the highest goodput (answered within "
        "the SLO per second) of any rate. Per repetition: each repetition's own crossing, to show "
        "how far a single repetition wanders.",
        "",
        *table(
            [
                "scenario",
                "variant",
                "capacity",
                "resolved",
                "knee",
                "plateau",
                "per repetition",
                "bare chain",
                "share of bare chain",
                "valid steps",
            ],
            rows,
        ),
    ]
    echo = echo_p50_ms(doc)
    if echo is not None:
        out += [
            f"The machine's speed during this run: the calibration's gRPC echo (one process "
            f"calling another on loopback) had a p50 of {fmt.ms(echo)}. Capacities in requests/s "
            "move with it across hours on a shared virtual machine, and sync's at the p99 SLO "
            "more than async's; the ratios below, within one run, are what carries elsewhere "
            "(docs/METHOD.md, Does it repeat?).",
            "",
        ]
    pairs = []
    for pair, by_scenario in doc.get("comparisons", {}).get("capacity", {}).items():
        a, b = pair.split("|")
        for scenario, cmp in by_scenario.items():
            verdict = cmp["verdict"]
            said = {"~": "no significant difference", "n/a": "no verdict (a bound)"}.get(
                verdict, f"{verdict} higher"
            )
            plateaus = cmp.get("plateau_ratio") or _plateau_ratio(doc, a, b, scenario)
            pairs.append(
                [scenario, f"{b} ÷ {a}", interval(cmp["ratio"], 2), said, interval(plateaus, 2)]
            )
    if pairs:
        out += [
            "Each pair of variants: the ratio of their capacities at the SLO with its 95 % CI "
            "(both sides' steps resampled together); a difference is called when the CI "
            "excludes 1. Beside it the ratio of their plateaus, paired by repetition.",
            "",
            *table(
                ["scenario", "capacity ratio", "95 % CI", "verdict", "plateau ratio [95 % CI]"],
                pairs,
            ),
        ]
    if invalid:
        out += ["Steps left out of the fit (kept in the run):", ""]
        out += [f"- {why}" for why in invalid[:20]]
        if len(invalid) > 20:
            out.append(f"- and {len(invalid) - 20} more")
        out.append("")
    return out
