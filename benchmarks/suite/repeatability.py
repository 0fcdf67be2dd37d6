"""Does the capacity repeat? Several `lab bench` runs of one commit side by side
(docs/METHOD.md, Capacity: does it repeat): per run and implementation the capacity with its CI,
the plateau and the knee, each repetition's own crossing and the invalid steps; across runs, how
far apart the medians are against the 10 % goal; and, from every repetition's own crossing
pooled, how many repetitions a run would need for its median to land within +-10 % (a bootstrap
of the repetitions seen: it assumes they are exchangeable, which interleaving is meant to make
them).

    .venv/bin/python -m benchmarks.suite.repeatability results/RUN_A results/RUN_B ... \\
        [--out docs/measurements/capacity-repeatability/REPEATABILITY.md]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import median

from benchmarks.suite.aggregate import GOAL_CAPACITY_HALF_WIDTH
from benchmarks.suite.emit import emit
from benchmarks.suite.results import CurveFigures, Interval

REPLICATES = 4000
REPETITIONS_TRIED = (1, 2, 3, 5, 8, 12)
# Fewer repetitions' crossings than this say nothing about a median of more: resampling two
# values gives a median anywhere between them, whatever n.
MIN_CROSSINGS = 5


@dataclass(frozen=True)
class RunCapacity:
    """One run's figures for one implementation and scenario."""

    run_id: str
    commit: str
    dirty: bool
    impl: str
    scenario: str
    curve: CurveFigures
    bare: CurveFigures | None
    share: Interval | None
    minutes: float | None
    # This capacity over another implementation's of the same run and scenario (its name, the
    # ratio's bootstrap CI with both sides' steps resampled, the verdict): "async / sync".
    versus: tuple[str, Interval, str] | None = None


def read_run(path: Path) -> list[RunCapacity]:
    """Every (implementation, scenario) capacity a run's summary.json holds."""
    meta = json.loads((path / "meta.json").read_text())
    summary = json.loads((path / "summary.json").read_text())
    machine = meta.get("machine", {})
    minutes = _minutes(meta)
    versus: dict[tuple[str, str], tuple[str, Interval, str]] = {}
    for pair, by_scenario in summary.get("comparisons", {}).get("capacity", {}).items():
        first, second = pair.split("|")
        for scenario, c in by_scenario.items():
            versus[(second, scenario)] = (first, c["ratio"], c["verdict"])
    out = []
    for impl, agg in summary.get("aggregate", {}).items():
        for scenario, cap in agg.get("capacity", {}).items():
            out.append(
                RunCapacity(
                    meta["run_id"],
                    str(machine.get("git_commit", "?"))[:7],
                    bool(machine.get("git_dirty")),
                    impl,
                    scenario,
                    cap["implementation"],
                    cap.get("bare_chain"),
                    cap.get("share_of_bare_chain"),
                    minutes,
                    versus.get((impl, scenario)),
                )
            )
    return out


def _minutes(meta: dict[str, object]) -> float | None:
    try:
        began = datetime.fromisoformat(str(meta["started_at"]))
        ended = datetime.fromisoformat(str(meta["ended_at"]))
    except (KeyError, ValueError):
        return None
    return (ended - began).total_seconds() / 60


def spread(values: list[float]) -> float | None:
    """How far apart: (max - min) / min, None for fewer than two values."""
    if len(values) < 2 or min(values) <= 0:
        return None
    return (max(values) - min(values)) / min(values)


def repetitions_needed(
    crossings: list[float], rng: random.Random, tried: tuple[int, ...] = REPETITIONS_TRIED
) -> dict[int, float]:
    """For each number of repetitions n: the half-width of the central 95 % of the median of n
    crossings drawn with replacement from `crossings`, as a share of their median."""
    centre = median(crossings)
    out = {}
    for n in tried:
        medians = sorted(median(rng.choices(crossings, k=n)) for _ in range(REPLICATES))
        low, high = medians[int(0.025 * REPLICATES)], medians[int(0.975 * REPLICATES) - 1]
        out[n] = (high - low) / 2 / centre
    return out


def _estimate(i: Interval) -> bool:
    return i["kind"] == "estimate" and i["value"] is not None


def _value(i: Interval) -> float:
    assert i["value"] is not None
    return float(i["value"])


def _interval(i: Interval | None, digits: int = 0) -> str:
    if i is None:
        return "-"
    bound = {"lower_bound": ">= ", "upper_bound": "<= "}.get(i["kind"], "")
    if bound:
        return f"{bound}{i['value']:.{digits}f}"
    return f"{i['value']:.{digits}f} [{i['low']:.{digits}f}-{i['high']:.{digits}f}]"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def table(runs: list[RunCapacity], command: str = "") -> str:
    """The markdown: one row per run and implementation, then the medians' spread per
    implementation, then the repetitions a +-10 % median would take."""
    commits = sorted({(r.commit, r.dirty) for r in runs})
    count = len({r.run_id for r in runs})
    of = ", ".join(c + (" (dirty)" if d else "") for c, d in commits)
    lines = [
        "# Does the capacity repeat?",
        "",
        f"Generated by `{command or 'python -m benchmarks.suite.repeatability'}` from {count} "
        f"run{'s' if count != 1 else ''} of commit {of}. "
        "Capacity: where the fitted p99 of every valid step of every repetition crosses 50 ms "
        "(95 % bootstrap CI); plateau: the highest goodput; per repetition: each repetition's "
        "own crossing (its steps alone); share: of the bare chain's capacity (with its CI).",
        "",
        "| run | impl | scenario | capacity req/s [95 % CI] | CI half-width | plateau req/s | knee "
        "req/s | per repetition | valid / invalid steps | bare chain | share | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        reps = ", ".join(
            "-" if v is None else (f"{v:.0f}" + ("" if k == "estimate" else f" ({k})"))
            for v, k in zip(r.curve["per_repetition"], r.curve["per_repetition_kind"], strict=False)
        )
        lines.append(
            f"| {r.run_id} | {r.impl} | {r.scenario} | {_interval(r.curve['capacity'])} | "
            f"{_pct(r.curve['half_width'])} | {_interval(r.curve['plateau'])} | "
            f"{_interval(r.curve['knee'])} | {reps} | {r.curve['steps']} / "
            f"{len(r.curve['invalid_steps'])} | "
            f"{_interval(r.bare['capacity']) if r.bare else '-'} | {_interval(r.share, 2)} | "
            f"{'-' if r.minutes is None else f'{r.minutes:.0f}'} |"
        )
    lines += [
        "",
        f"## Across runs (goal: the medians within {GOAL_CAPACITY_HALF_WIDTH:.0%} of each other)",
        "",
        "| impl | scenario | runs | capacity medians | apart | plateau medians | apart | "
        "every repetition's crossing | repetitions for a median within +-10 % (95 % half-width "
        f"by n; from {MIN_CROSSINGS} crossings on) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rng = random.Random(20)
    for key in sorted({(r.impl, r.scenario) for r in runs}):
        mine = [r for r in runs if (r.impl, r.scenario) == key]
        medians = [_value(r.curve["capacity"]) for r in mine if _estimate(r.curve["capacity"])]
        plateaus = [_value(r.curve["plateau"]) for r in mine if _estimate(r.curve["plateau"])]
        crossings = [
            v
            for r in mine
            for v, k in zip(r.curve["per_repetition"], r.curve["per_repetition_kind"], strict=False)
            if v is not None and k == "estimate"
        ]
        needed = repetitions_needed(crossings, rng) if len(crossings) >= MIN_CROSSINGS else {}
        lines.append(
            f"| {key[0]} | {key[1]} | {len(mine)} | "
            f"{', '.join(f'{m:.0f}' for m in medians) or '-'} | "
            f"{_pct(spread(medians))} | {', '.join(f'{p:.0f}' for p in plateaus)} | "
            f"{_pct(spread(plateaus))} | {', '.join(f'{c:.0f}' for c in crossings) or '-'} | "
            + (", ".join(f"n={n}: +-{_pct(w)}" for n, w in needed.items()) or "-")
            + " |"
        )
    paired = [r for r in runs if r.versus is not None]
    if paired:
        lines += [
            "",
            "## One implementation's capacity over the other's, per run",
            "",
            "The ratio's 95 % bootstrap CI resamples both sides' steps (a difference is called "
            "only when it excludes 1).",
            "",
            "| run | scenario | ratio | capacity ratio [95 % CI] | higher |",
            "|---|---|---|---|---|",
        ]
        for r in paired:
            assert r.versus is not None
            other, ratio, verdict = r.versus
            lines.append(
                f"| {r.run_id} | {r.scenario} | {r.impl} / {other} | {_interval(ratio, 2)} | "
                f"{verdict} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite.repeatability",
        description="Several `lab bench` runs of one commit side by side: does the capacity "
        "repeat (docs/METHOD.md, Capacity)?",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (results/<run-id>)")
    parser.add_argument("--out", type=Path, help="write the markdown here (default: stdout)")
    args = parser.parse_args(argv)
    runs: list[RunCapacity] = []
    for path in args.runs:
        if not (path / "summary.json").is_file() or not (path / "meta.json").is_file():
            parser.error(f"{path}: not a run directory (no summary.json and meta.json)")
        runs += read_run(path)
    if not runs:
        parser.error("no capacity in these runs (were they run with --no-sweep?)")
    command = " ".join(["python -m benchmarks.suite.repeatability", *map(str, args.runs)])
    text = table(runs, command)
    return emit(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
