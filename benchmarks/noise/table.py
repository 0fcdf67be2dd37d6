"""NOISE.md: the noise study's tables, generated from its summary.json (never typed by hand;
`python -m benchmarks.noise --table DIR` regenerates it). docs/METHOD.md, Noise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.noise.figures import SOURCES, RunFigures, correlation, median_of, p99_spread
from benchmarks.noise.plan import Pilot, PilotStep
from benchmarks.noise.variants import VARIANTS, effect_label
from lab.runs.rundir import RunDir

NOISE_MD = "NOISE.md"

# Sources counted as events: their sum over the runs, not a median per run.
SUMMED = {"checkpoints", "autovacuum_runs", "gc_gen2_collections"}


@dataclass(frozen=True)
class StudySummary:
    """summary.json of a noise study."""

    run_id: str
    scenario: str
    variants: list[str]
    impls: list[str]
    rates: dict[str, float]  # impl -> offered requests/s
    pilots: dict[str, Pilot]  # impl -> its pilot (none when the rate was given)
    runs: list[RunFigures]
    git_commit: str
    git_dirty: bool
    cpu_count: int
    duration_s: float
    steps_per_stack: int


def load_summary(run_dir: Path) -> StudySummary:
    """A noise study's summary.json, read through its run directory (lab/runs)."""
    raw: dict[str, Any] = RunDir.open(run_dir).summary(dict)
    pilots = {
        impl: Pilot(
            [PilotStep(**step) for step in pilot["steps"]],
            pilot["slo_rate"],
            pilot["note"],
            pilot["rate"],
        )
        for impl, pilot in raw["pilots"].items()
    }
    return StudySummary(**{**raw, "pilots": pilots, "runs": [RunFigures(**r) for r in raw["runs"]]})


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def spread_table(summary: StudySummary) -> list[str]:
    lines = [
        _row(
            [
                "implementation",
                "variant",
                "what it changes",
                "effect",
                "runs (invalid)",
                "offered /s",
                "p99 ms: median [min-max]",
                "CV",
                "max/min",
                "CV / baseline's",
            ]
        ),
        _row(["---"] * 4 + ["---:"] * 6),
    ]
    for impl in summary.impls:
        baseline = p99_spread(_runs(summary, impl, "baseline"))
        for name in summary.variants:
            runs = _runs(summary, impl, name)
            if not runs:
                continue
            s = p99_spread(runs)
            variant = VARIANTS[name]
            relative = s.cv / baseline.cv if s.cv is not None and baseline.cv else None
            lines.append(
                _row(
                    [
                        impl,
                        name,
                        variant.what,
                        effect_label(variant.effect),
                        f"{s.runs} ({s.invalid})",
                        f"{summary.rates.get(impl, 0):g}",
                        f"{_num(s.median_ms)} [{_num(s.min_ms)}-{_num(s.max_ms)}]",
                        _num(s.cv, 2),
                        _num(s.max_over_min, 2),
                        _num(relative, 2),
                    ]
                )
            )
    return lines


def sources_table(summary: StudySummary) -> list[str]:
    headings = [h + (" (sum)" if a in SUMMED else "") for a, h in SOURCES]
    lines = [
        _row(["implementation", "variant", *headings]),
        _row(["---"] * 2 + ["---:"] * len(SOURCES)),
    ]
    for impl in summary.impls:
        for name in summary.variants:
            runs = _runs(summary, impl, name)
            if not runs:
                continue
            cells = []
            for attribute, _ in SOURCES:
                if attribute in SUMMED:
                    cells.append(str(sum(getattr(r, attribute) for r in runs)))
                elif attribute == "stall_share":
                    share = median_of(runs, attribute)
                    cells.append(_num(None if share is None else 100 * share))
                else:
                    cells.append(_num(median_of(runs, attribute), 2))
            lines.append(_row([impl, name, *cells]))
    return lines


def correlation_table(summary: StudySummary) -> list[str]:
    lines = [
        _row(["implementation", *(h for _, h in SOURCES)]),
        _row(["---"] + ["---:"] * len(SOURCES)),
    ]
    for impl in summary.impls:
        runs = [r for r in summary.runs if r.impl == impl]
        cells = []
        for attribute, _ in SOURCES:
            rho, n = correlation(runs, attribute)
            cells.append(f"{_num(rho, 2)} ({n})")
        lines.append(_row([impl, *cells]))
    return lines


def findings(summary: StudySummary) -> list[str]:
    """Per implementation, the variant whose p99 moved least (CV), beside the baseline's."""
    lines = []
    for impl in summary.impls:
        spreads = {
            name: p99_spread(_runs(summary, impl, name))
            for name in summary.variants
            if _runs(summary, impl, name)
        }
        ranked = sorted(
            (s.cv, name) for name, s in spreads.items() if s.cv is not None and s.runs >= 3
        )
        if not ranked:
            lines.append(f"- {impl}: fewer than 3 runs per variant: no spread to rank.")
            continue
        cv, name = ranked[0]
        base = spreads.get("baseline")
        against = f" (baseline: {_num(base.cv, 2)})" if base and base.cv is not None else ""
        lines.append(f"- {impl}: the p99 moved least with {name}: CV {_num(cv, 2)}{against}.")
    return lines


def markdown(summary: StudySummary) -> str:
    dirty = " (with uncommitted changes)" if summary.git_dirty else ""
    out = [
        "# Noise study",
        "",
        f"Generated by `python -m benchmarks.noise` (docs/METHOD.md, Noise): run "
        f"{summary.run_id}, commit {summary.git_commit[:12] or 'unknown'}{dirty}, "
        f"{summary.cpu_count} CPUs. Scenario {summary.scenario} in open loop, "
        f"{summary.duration_s:g} s per run, {summary.steps_per_stack} runs per fresh stack, "
        "variants and implementations interleaved.",
        "",
    ]
    for impl, pilot in summary.pilots.items():
        out.append(
            f"- {impl}: offered {summary.rates[impl]:g}/s; the pilot's p99 reached the SLO near "
            f"{pilot.slo_rate:.0f}/s ({pilot.note})."
        )
    for impl in summary.impls:
        if impl not in summary.pilots and impl in summary.rates:
            out.append(f"- {impl}: offered {summary.rates[impl]:g}/s (given).")
    out += ["", "## The p99 over repeated runs", "", *spread_table(summary), ""]
    out += [
        "CV: the p99s' standard deviation over their mean. A run is invalid by the capacity "
        "steps' rule (benchmarks/suite/sweep.py: its generator fell behind its schedule, under "
        "98 % of the requests it scheduled finished, or its two halves disagree); it is kept in "
        "the figures and counted.",
        "",
        *findings(summary),
        "",
        "## What the noise sources did (median per run)",
        "",
        *sources_table(summary),
        "",
        "CPU pressure: % of the run during which some runnable task waited for a CPU "
        "(/proc/pressure/cpu). wait: the group's run-queue wait in ms per second of the run, "
        "i.e. how many of its threads waited for a CPU on average (/proc/<pid>/task/*/schedstat)."
        " Checkpoints, autovacuum (+ autoanalyze) and GC gen2 collections: summed over the runs.",
        "",
        "## Each source against the p99",
        "",
        "Spearman's rank correlation of the run's p99 with each source, over every run of the "
        "implementation (all variants; the number of runs in brackets):",
        "",
        *correlation_table(summary),
        "",
    ]
    return "\n".join(out)


def _runs(summary: StudySummary, impl: str, variant: str) -> list[RunFigures]:
    return [r for r in summary.runs if r.impl == impl and r.variant == variant]
