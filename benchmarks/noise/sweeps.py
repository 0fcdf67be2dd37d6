"""Which noise source goes with a capacity run's tail (docs/METHOD.md, Noise): each grid step's
p99 beside what the noise sources did during it (the noise.json every sweep step keeps,
benchmarks/suite/sweep.py).

Where no queue builds, a high tail is noise: only the rates whose median latency (the steps'
halves' medians, over the run's repetitions) is within QUEUE_FREE_FACTOR of the lowest rate's
are read (a queue delays every request, so it raises the median; a stall raises only the tail),
and only their valid steps. At each such rate a step's p99 is divided by the
rate's median (its *excess*: 2.0 is twice the rate's usual tail) and each source is taken as its
difference from the rate's median, so that the rate itself (more load: more waiting, more GC)
correlates with nothing. Spearman's rho between excess and each source, over every such step,
says which source goes with a tail above the usual one; the per-stack table (one stack per
repetition and implementation) says whether one stack's tail differs from another's, and beside
what.

    .venv/bin/python -m benchmarks.noise.sweeps RUN_DIR [RUN_DIR ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.noise.figures import SOURCES, RunFigures, RunOutcome, run_figures, spearman
from benchmarks.noise.sampler import NoiseSample
from benchmarks.suite.emit import emit
from benchmarks.suite.profiles import HALVES_FACTOR, SLO_P99_MS
from benchmarks.suite.results import SweepStep
from benchmarks.suite.sweep import NOISE_FILE
from benchmarks.suite.sweep_layout import stored_sweeps

# A rate's median latency within this factor of the lowest rate's: no queue builds there.
QUEUE_FREE_FACTOR = 2.0


@dataclass(frozen=True)
class StepNoise:
    """One grid step below capacity: its figures and its tail against its rate's usual one."""

    run_id: str
    chain: str  # "sync", "async bare chain", ...
    repetition: int
    figures: RunFigures
    excess: float  # p99 / the median p99 of the run's steps at this rate (same chain)


@dataclass(frozen=True)
class GridStep:
    """A grid step that kept its noise record."""

    chain: str
    repetition: int
    figures: RunFigures
    p50_ms: float | None  # the mean of its halves' medians
    halves_p99_ms: tuple[float | None, float | None]  # the measured window's first, second half


@dataclass(frozen=True)
class HalvesCount:
    """Of a chain's steps at queue-free rates (valid or not): how many had a first half, how
    many a second half, over HALVES_FACTOR times the other's p99. A stall falls in either half
    by chance; a transient at a step's start shows as more first halves."""

    run_id: str
    chain: str
    steps: int
    first_worse: int
    second_worse: int


@dataclass(frozen=True)
class SourceCorrelation:
    chain: str
    source: str  # RunFigures attribute
    rho: float | None
    pairs: int


@dataclass(frozen=True)
class StackRow:
    """One stack (a repetition of one chain in one run): the median over its steps."""

    run_id: str
    chain: str
    repetition: int
    steps: int
    excess: float
    sources: dict[str, float | None]  # RunFigures attribute -> median over its steps


def outcome(step: SweepStep) -> RunOutcome:
    return RunOutcome(
        offered_rate=step["offered_rate"],
        achieved_rate=step["achieved_rate"],
        p99_ms=step["p99_ms"],
        error_rate=step["error_rate"],
        generator_behind=False,  # in the flags, when it was
        generator_saturated=step["generator_saturated"],
        flags=step["flags"],
    )


def step_p50(step: SweepStep) -> float | None:
    halves = [v for v in step.get("halves_p50_ms") or [] if v is not None]
    return statistics.fmean(halves) if halves else None


def grid_steps(run_dir: Path) -> list[GridStep]:
    """Every grid step of the run that kept its noise record."""
    summary = json.loads((run_dir / "summary.json").read_text())
    found: list[GridStep] = []
    for stored in stored_sweeps(run_dir, summary):
        chain = f"{stored.impl} bare chain" if stored.bare else stored.impl
        for index, step in enumerate(stored.sweep["steps"], start=1):
            path = stored.step_dir(step["offered_rate"]) / NOISE_FILE
            if not path.exists():
                continue
            sample = NoiseSample.from_json(json.loads(path.read_text()))
            figures = run_figures(
                "sweep", stored.impl, stored.repetition, index, outcome(step), sample
            )
            first, second = step["halves_p99_ms"]
            found.append(
                GridStep(chain, stored.repetition, figures, step_p50(step), (first, second))
            )
    return found


def queue_free(steps: Sequence[GridStep]) -> list[GridStep]:
    """The steps at rates whose median latency is within QUEUE_FREE_FACTOR of the lowest
    rate's (per chain; over every repetition's step at the rate)."""
    medians: dict[tuple[str, float], float] = {}
    groups: dict[tuple[str, float], list[float]] = defaultdict(list)
    for s in steps:
        if s.p50_ms is not None:
            groups[(s.chain, s.figures.offered_rate)].append(s.p50_ms)
    for key, values in groups.items():
        medians[key] = statistics.median(values)
    lowest: dict[str, float] = {}
    for (chain, rate), _ in sorted(medians.items(), key=lambda kv: kv[0][1]):
        lowest.setdefault(chain, medians[(chain, rate)])
    return [
        s
        for s in steps
        if (key := (s.chain, s.figures.offered_rate)) in medians
        and medians[key] <= QUEUE_FREE_FACTOR * lowest[s.chain]
    ]


def halves(run_id: str, steps: Sequence[GridStep]) -> list[HalvesCount]:
    out = []
    free = queue_free(steps)
    for chain in sorted({s.chain for s in free}):
        pairs = [
            (a, b)
            for s in free
            if s.chain == chain and (a := s.halves_p99_ms[0]) and (b := s.halves_p99_ms[1])
        ]
        out.append(
            HalvesCount(
                run_id,
                chain,
                len(pairs),
                sum(1 for a, b in pairs if a > HALVES_FACTOR * b),
                sum(1 for a, b in pairs if b > HALVES_FACTOR * a),
            )
        )
    return out


def below_capacity(run_id: str, steps: Sequence[GridStep]) -> list[StepNoise]:
    """The valid steps at queue-free rates, each with its excess over its rate's median p99."""
    by_rate: dict[tuple[str, float], list[GridStep]] = defaultdict(list)
    for s in queue_free(steps):
        if s.figures.valid and s.figures.p99_ms is not None:
            by_rate[(s.chain, s.figures.offered_rate)].append(s)
    out: list[StepNoise] = []
    for (chain, _), group in sorted(by_rate.items()):
        usual = statistics.median(s.figures.p99_ms for s in group if s.figures.p99_ms is not None)
        if usual <= 0:
            continue
        out += [
            StepNoise(run_id, chain, s.repetition, s.figures, s.figures.p99_ms / usual)
            for s in group
            if s.figures.p99_ms is not None
        ]
    return out


def _deviation(steps: Sequence[StepNoise], attribute: str) -> list[float | None]:
    """Each step's source minus its rate's median (same run and chain)."""
    groups: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for s in steps:
        if (v := getattr(s.figures, attribute)) is not None:
            groups[(s.run_id, s.chain, s.figures.offered_rate)].append(float(v))
    out: list[float | None] = []
    for s in steps:
        v = getattr(s.figures, attribute)
        key = (s.run_id, s.chain, s.figures.offered_rate)
        out.append(None if v is None else float(v) - statistics.median(groups[key]))
    return out


def correlations(steps: Sequence[StepNoise]) -> list[SourceCorrelation]:
    """Per chain and source: Spearman's rho between a step's excess and its source's
    difference from the rate's median."""
    out: list[SourceCorrelation] = []
    for chain in sorted({s.chain for s in steps}):
        mine = [s for s in steps if s.chain == chain]
        for attribute, _ in SOURCES:
            pairs = [
                (d, s.excess)
                for s, d in zip(mine, _deviation(mine, attribute), strict=True)
                if d is not None
            ]
            rho = spearman([d for d, _ in pairs], [e for _, e in pairs])
            out.append(SourceCorrelation(chain, attribute, rho, len(pairs)))
    return out


def stacks(steps: Sequence[StepNoise]) -> list[StackRow]:
    groups: dict[tuple[str, str, int], list[StepNoise]] = defaultdict(list)
    for s in steps:
        groups[(s.run_id, s.chain, s.repetition)].append(s)
    rows = []
    for (run_id, chain, rep), mine in sorted(groups.items()):
        sources: dict[str, float | None] = {}
        for attribute, _ in SOURCES:
            values = [float(v) for s in mine if (v := getattr(s.figures, attribute)) is not None]
            sources[attribute] = statistics.median(values) if values else None
        excess = statistics.median(s.excess for s in mine)
        rows.append(StackRow(run_id, chain, rep, len(mine), excess, sources))
    return rows


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(
    steps: Sequence[StepNoise], run_dirs: Sequence[str], counts: Sequence[HalvesCount] = ()
) -> str:
    """The tables; `run_dirs` as given on the command line (the header names them, so that a
    committed table can be generated again: tests/unit/test_sweep_noise.py)."""
    heads = [h for _, h in SOURCES]
    lines = [
        f"# The tail beside its noise sources: {', '.join(Path(d).name for d in run_dirs)}",
        "",
        f"Generated by `python -m benchmarks.noise.sweeps {' '.join(run_dirs)}`",
        "(docs/METHOD.md, Noise) from each grid step's noise.json. Valid steps at rates where",
        f"no queue builds (their median latency within {QUEUE_FREE_FACTOR:g}x the lowest rate's);",
        "excess = the step's p99 / its rate's median p99 in its run (the SLO: p99 <=",
        f"{SLO_P99_MS:g} ms).",
        "",
        "## Which source goes with a tail above its rate's usual one",
        "",
        "Spearman's rho between excess and each source's difference from its rate's median",
        "(pairs in brackets).",
        "",
        "| chain | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    table = correlations(steps)
    for chain in sorted({c.chain for c in table}):
        cells = [f"{_num(c.rho, 2)} ({c.pairs})" for c in table if c.chain == chain]
        lines.append(f"| {chain} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Per stack",
        "",
        "Medians over a stack's steps below capacity; waits in ms per second of the step.",
        "",
        "| run | chain | rep | steps | excess | " + " | ".join(heads) + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(heads),
    ]
    for row in stacks(steps):
        cells = [_source(a, row.sources[a]) for a, _ in SOURCES]
        lines.append(
            f"| {row.run_id} | {row.chain} | {row.repetition} | {row.steps} | "
            f"{row.excess:.2f} | " + " | ".join(cells) + " |"
        )
    if counts:
        lines += [
            "",
            "## Which half was worse",
            "",
            "Steps at queue-free rates, valid or not, whose first (second) half's p99 was over",
            f"{HALVES_FACTOR:g}x the other's. A stall falls in either half by chance; a transient",
            "at a step's start (after its warm-up) shows as more first halves.",
            "",
            "| run | chain | steps | first half worse | second half worse |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {c.run_id} | {c.chain} | {c.steps} | {c.first_worse} | {c.second_worse} |"
            for c in counts
        ]
    return "\n".join(lines) + "\n"


def _source(attribute: str, value: float | None) -> str:
    if attribute == "stall_share" and value is not None:
        return f"{100 * value:.0f}"  # a share of the step: shown in percent, as headed
    return _num(value)


class NoRun(Exception):
    """A directory that is no finished run with noise records (its message says which)."""


def recorded_steps(run_dir: Path) -> list[GridStep]:
    """The run's grid steps with their noise records; NoRun when it is no finished run or kept
    none."""
    if not (run_dir / "summary.json").exists():
        raise NoRun(f"{run_dir}: no summary.json (not a finished lab bench run)")
    found = grid_steps(run_dir)
    if not found:
        raise NoRun(f"{run_dir}: no grid step kept its {NOISE_FILE} (a run before it was kept)")
    return found


def steps_of(run_dirs: Sequence[Path]) -> tuple[list[StepNoise], list[HalvesCount]]:
    """The steps read from every run, each run's rates centred on their own medians, and each
    run's count of worse halves."""
    steps: list[StepNoise] = []
    counts: list[HalvesCount] = []
    for run_dir in run_dirs:
        found = recorded_steps(run_dir)
        steps += below_capacity(run_dir.name, found)
        counts += halves(run_dir.name, found)
    return steps, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.noise.sweeps",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="lab bench runs")
    parser.add_argument("--out", type=Path, help="write the table here (default: print it)")
    args = parser.parse_args(argv)
    try:
        steps, counts = steps_of(args.run_dirs)
    except NoRun as e:
        print(e, file=sys.stderr)
        return 2
    text = markdown(steps, [str(d) for d in args.run_dirs], counts)
    return emit(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
