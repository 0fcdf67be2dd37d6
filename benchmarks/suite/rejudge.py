"""A capacity run's grid steps judged again by the current rules (docs/METHOD.md, Capacity),
from the raw files each step left (generator-<pid>.json), and its load curves fitted again.

The rules that make a step valid, a miss or a queue growing have changed as the noise was
understood; a run keeps the verdicts of the commit that measured it. This reads a run's raw
step directories as the sweep did when it ran (benchmarks/suite/driver.summarize, without
writing anything), applies today's `flags` and `meets_slo`, and prints each curve's capacity
as stored beside the one the current rules give, with every step whose verdict changed.
Needs the run's full directory (a compact copy keeps no generator files).

    .venv/bin/python -m benchmarks.suite.rejudge results/RUN_ID [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmarks.suite.aggregate import capacity_ratio, curve, valid_points
from benchmarks.suite.capacity_fit import Interval
from benchmarks.suite.context import Load
from benchmarks.suite.driver import summarize
from benchmarks.suite.emit import emit
from benchmarks.suite.results import CurveFigures, SweepResult, SweepStep
from benchmarks.suite.sweep import judge
from benchmarks.suite.sweep_layout import StoredSweep, stored_sweeps

Chain = Literal["implementation", "bare chain"]


@dataclass(frozen=True)
class Change:
    """One step whose verdict the current rules change."""

    repetition: int
    rate: float
    halves_p99_ms: list[float | None]
    halves_p50_ms: list[float | None]
    before: str
    after: str


@dataclass
class Rejudged:
    """One curve of a run (an implementation, a scenario, the stack or its bare chain)."""

    impl: str
    scenario: str
    chain: Chain
    stored: CurveFigures
    now: CurveFigures
    changes: list[Change] = field(default_factory=list)
    sweeps: list[SweepResult] = field(default_factory=list)  # judged again, by repetition


def verdict(step: SweepStep) -> str:
    if not step["valid"]:
        return "invalid: " + "; ".join(step["flags"])
    if step["growing"]:
        return "miss (queue growing)"
    return "meets" if step["meets_slo"] else "miss"


def again(step: SweepStep, directory: Path, scenario: str) -> SweepStep:
    """`step` judged by today's rules from its raw files in `directory`."""
    load = Load(scenario, step["offered_rate"], 0, 0.0, 0.0, None)
    run = summarize(directory, load, write=False)
    return {
        **step,
        "halves_p99_ms": run["halves_p99_ms"],
        "halves_p50_ms": run["halves_p50_ms"],
        **judge(run),
    }


def rejudge(run_dir: Path) -> list[Rejudged]:
    """Every capacity curve of the run, stored and judged again."""
    summary = json.loads((run_dir / "summary.json").read_text())
    curves: dict[tuple[str, str, bool], list[StoredSweep]] = {}
    for stored in stored_sweeps(run_dir, summary):
        curves.setdefault((stored.impl, stored.scenario, stored.bare), []).append(stored)
    out: list[Rejudged] = []
    for (impl, scenario, bare), stored_list in curves.items():
        figures = summary["aggregate"][impl]["capacity"][scenario]
        key = "bare_chain" if bare else "implementation"
        chain: Chain = "bare chain" if bare else "implementation"
        item = Rejudged(impl, scenario, chain, figures[key], figures[key])
        for stored in stored_list:
            steps = []
            for step in stored.sweep["steps"]:
                now = again(step, stored.step_dir(step["offered_rate"]), scenario)
                if verdict(now) != verdict(step):
                    item.changes.append(
                        Change(
                            stored.repetition,
                            step["offered_rate"],
                            now["halves_p99_ms"],
                            now.get("halves_p50_ms") or [None, None],
                            verdict(step),
                            verdict(now),
                        )
                    )
                steps.append(now)
            item.sweeps.append({**stored.sweep, "steps": steps})
        item.now = curve(item.sweeps)
        out.append(item)
    return out


@dataclass(frozen=True)
class Versus:
    """Two implementations' capacities at the SLO, fitted again: b / a with its CI, the two
    sides paired by repetition (aggregate.capacity_ratio)."""

    a: str
    b: str
    scenario: str
    ratio: Interval


def versus(items: list[Rejudged]) -> list[Versus]:
    """Every pair of the run's implementations (in the run's order), per scenario."""
    mine = [it for it in items if it.chain == "implementation"]
    out = []
    for i, first in enumerate(mine):
        for second in mine[i + 1 :]:
            if first.scenario != second.scenario:
                continue
            ratio = capacity_ratio(valid_points(first.sweeps), valid_points(second.sweeps))
            out.append(Versus(first.impl, second.impl, first.scenario, ratio))
    return out


def _capacity(c: CurveFigures) -> str:
    i = c["capacity"]
    if i["value"] is None:
        return "none"
    if i["kind"] != "estimate":
        return f"{'>=' if i['kind'] == 'lower_bound' else '<='} {i['value']:.0f}"
    width = c["half_width"]
    return f"{i['value']:.0f} [{i['low']:.0f}-{i['high']:.0f}]" + (
        "" if width is None else f" +-{100 * width:.0f} %"
    )


def _reps(c: CurveFigures) -> str:
    return ", ".join(
        "-" if v is None else f"{v:.0f}" + ("" if k == "estimate" else f" ({k})")
        for v, k in zip(c["per_repetition"], c["per_repetition_kind"], strict=False)
    )


def _ms(values: list[float | None]) -> str:
    return "/".join("-" if v is None else f"{v:.1f}" for v in values)


def table(run_dir: Path, items: list[Rejudged]) -> str:
    lines = [
        f"# {run_dir.name}: its capacity steps judged again by today's rules",
        "",
        "Generated by `python -m benchmarks.suite.rejudge` from the run's raw step files.",
        "",
        "| impl | scenario | curve | stored capacity req/s [95 % CI] | its repetitions | "
        "judged again | its repetitions | steps changed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for it in items:
        lines.append(
            f"| {it.impl} | {it.scenario} | {it.chain} | {_capacity(it.stored)} | "
            f"{_reps(it.stored)} | {_capacity(it.now)} | {_reps(it.now)} | {len(it.changes)} |"
        )
    pairs = versus(items)
    if pairs:
        lines += [
            "",
            "Capacity ratio fitted again, the two implementations' stacks paired by repetition "
            "(each bootstrap replicate draws the same repetitions for both):",
            "",
            "| scenario | ratio | capacity ratio [95 % CI] |",
            "|---|---|---|",
        ]
        for v in pairs:
            r = v.ratio
            shown = (
                "none"
                if r["value"] is None or r["low"] is None or r["high"] is None
                else f"{r['value']:.2f} [{r['low']:.2f}-{r['high']:.2f}]"
            )
            lines.append(f"| {v.scenario} | {v.b} / {v.a} | {shown} |")
    changed = [(it, ch) for it in items for ch in it.changes]
    if changed:
        lines += [
            "",
            "| impl | curve | repetition | rate /s | halves p99 ms | halves p50 ms | stored "
            "verdict | today's |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for it, ch in changed:
            lines.append(
                f"| {it.impl} | {it.chain} | {ch.repetition} | {ch.rate:g} | "
                f"{_ms(ch.halves_p99_ms)} | {_ms(ch.halves_p50_ms)} | {ch.before} | {ch.after} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite.rejudge",
        description="A capacity run's steps judged again by today's rules from its raw files, "
        "and its curves fitted again (docs/METHOD.md, Capacity).",
    )
    parser.add_argument("run", type=Path, help="a run's directory (results/<run-id>)")
    parser.add_argument("--out", type=Path, help="write the markdown here (default: stdout)")
    args = parser.parse_args(argv)
    if not (args.run / "summary.json").is_file():
        parser.error(f"{args.run}: not a run directory (no summary.json)")
    try:
        items = rejudge(args.run)
    except (FileNotFoundError, RuntimeError) as error:
        parser.error(
            f"{args.run}: its raw step files are missing ({error}); a compact copy "
            "keeps none, judge the full run"
        )
    if not items:
        parser.error(f"{args.run}: no capacity curves (was it run with --no-sweep?)")
    text = table(args.run, items)
    return emit(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
