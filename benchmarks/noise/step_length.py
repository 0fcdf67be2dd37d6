"""How long a capacity step should be (docs/METHOD.md, Does it repeat?): how the spread of a
rate's p99 across repetitions shrinks with the step's length, read from the two halves every
step keeps.

At the rates where no queue builds (benchmarks/noise/sweeps.queue_free), each repetition's p99
of a rate differs from the others'. Their variance (of ln p99, within each run and rate, pooled
over the rates and runs) is taken for the whole step (length T) and for each half alone (T/2).
Were it the sampling noise of a p99 on a stationary stack, it would double when the step is
halved; what does not change with the length is a property of the stack or of the moment (a
stack with a fat tail, a burst of contention), which only more repetitions, each on a fresh
stack, average out. The model var(T) = floor + per_length / T, solved from the two lengths,
says what longer steps would give against more repetitions for the same time.

    .venv/bin/python -m benchmarks.noise.step_length RUN_DIR [RUN_DIR ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.noise.sweeps import NoRun, grid_steps, queue_free
from benchmarks.suite.sweep import NOISE_FILE

Samples = tuple[float, float, float]  # ln p99 of the whole step, of its first, its second half


@dataclass(frozen=True)
class LengthSpread:
    """One chain's spread of ln p99 across repetitions, for the whole step and its halves."""

    chain: str
    groups: int  # (run, rate) pairs with two repetitions or more
    var_whole: float  # pooled variance of ln p99 across repetitions, the whole step (T)
    var_first: float  # the first halves alone (T/2)
    var_second: float

    @property
    def var_half(self) -> float:
        return (self.var_first + self.var_second) / 2

    @property
    def per_length(self) -> float:
        """The variance at length T that halves with every doubling of the step (at most all
        of it: halves that vary more than twice as much say only that all of it would)."""
        return min(max(self.var_half - self.var_whole, 0.0), self.var_whole)

    @property
    def floor(self) -> float:
        """The variance that no step length removes (var(T) - per_length)."""
        return self.var_whole - self.per_length

    def sd_longer(self, k: float) -> float:
        """The SD of one repetition's ln p99 with steps k times as long."""
        return math.sqrt(self.floor + self.per_length / k)

    def sd_more_repetitions(self, k: float) -> float:
        """The SD of the mean ln p99 over k repetitions of today's step (the same time)."""
        return math.sqrt(self.var_whole / k)


def pooled_variance(groups: Sequence[Sequence[float]]) -> float:
    """The variance within groups, pooled (each weighted by its degrees of freedom)."""
    usable = [g for g in groups if len(g) >= 2]
    dof = sum(len(g) - 1 for g in usable)
    if not dof:
        raise ValueError("no group with two values or more")
    return sum((len(g) - 1) * statistics.variance(g) for g in usable) / dof


def spread(chain: str, groups: Sequence[Sequence[Samples]]) -> LengthSpread:
    """One chain's spread from its (run, rate) groups of repetitions' samples."""
    usable = [g for g in groups if len(g) >= 2]
    return LengthSpread(
        chain,
        len(usable),
        pooled_variance([[s[0] for s in g] for g in usable]),
        pooled_variance([[s[1] for s in g] for g in usable]),
        pooled_variance([[s[2] for s in g] for g in usable]),
    )


def spreads_of(run_dirs: Sequence[Path]) -> list[LengthSpread]:
    """Every chain's spread over the runs' steps at queue-free rates (valid or not: a stall is
    part of the noise asked about)."""
    groups: dict[str, dict[tuple[str, float], list[Samples]]] = defaultdict(dict)
    for run_dir in run_dirs:
        if not (run_dir / "summary.json").exists():
            raise NoRun(f"{run_dir}: no summary.json (not a finished lab bench run)")
        found = grid_steps(run_dir)
        if not found:
            raise NoRun(f"{run_dir}: no grid step kept its {NOISE_FILE} (a run before it was kept)")
        for s in queue_free(found):
            whole, (first, second) = s.figures.p99_ms, s.halves_p99_ms
            if whole and first and second:
                key = (run_dir.name, s.figures.offered_rate)
                samples = (math.log(whole), math.log(first), math.log(second))
                groups[s.chain].setdefault(key, []).append(samples)
    return [spread(chain, list(by_rate.values())) for chain, by_rate in sorted(groups.items())]


def markdown(spreads: Sequence[LengthSpread], run_paths: Sequence[str]) -> str:
    def sd(variance: float) -> str:
        return f"{math.sqrt(variance):.2f}"

    lines = [
        "# How the spread of a rate's p99 depends on the step's length",
        "",
        f"Generated by `python -m benchmarks.noise.step_length {' '.join(run_paths)}`. At the "
        "rates where no queue builds, the standard deviation of ln p99 across a run's "
        "repetitions of one rate (pooled over rates and runs): for the whole step (length T) "
        "and for each half alone (T/2). Were a step's p99 sampling noise, its variance would "
        "double over half the length; the share that does not shrink with the length is "
        "var(T) - (var(T/2) - var(T)), of var(T). The last columns: one repetition's SD with "
        "steps k times as long, against the SD of the mean of k repetitions of today's steps "
        "(the same time).",
        "",
        "| chain | rate groups | SD whole step | SD first half | SD second half | share of the "
        "variance no length removes | steps 2x longer | 4x longer | 2x the repetitions | 4x |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in spreads:
        share = s.floor / s.var_whole if s.var_whole else 0.0
        lines.append(
            f"| {s.chain} | {s.groups} | {sd(s.var_whole)} | {sd(s.var_first)} | "
            f"{sd(s.var_second)} | {100 * share:.0f} % | {s.sd_longer(2):.2f} | "
            f"{s.sd_longer(4):.2f} | {s.sd_more_repetitions(2):.2f} | "
            f"{s.sd_more_repetitions(4):.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.noise.step_length",
        description="How the spread of a rate's p99 across repetitions shrinks with the "
        "capacity step's length, from the halves of lab bench runs' grid steps.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="lab bench runs")
    parser.add_argument("--out", type=Path, help="write the table here (default: print it)")
    args = parser.parse_args(argv)
    try:
        spreads = spreads_of(args.run_dirs)
    except (NoRun, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(spreads, [str(d) for d in args.run_dirs])
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
