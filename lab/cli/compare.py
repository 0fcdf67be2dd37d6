"""`lab compare`: two versions of the code, each measured by benchmark runs taken in alternation,
figure by figure (docs/METHOD.md, Results and report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.cli.common import CliError, SubParsers


def run(args: argparse.Namespace) -> int:
    # Imported here: the report's modules, which no other command needs.
    from lab.report.comparison import render
    from lab.report.pooled import pool
    from lab.report.sources import ReportError, read_run, run_path

    results = Path(args.results_dir)
    try:
        sides = []
        for ids in (args.before, args.after):
            runs = [read_run(run_path(results, r)) for r in ids]
            for run in runs:
                if run.kind != "bench":
                    raise ReportError(f"{run.run_id} is a {run.kind} run: compare benchmark runs")
            sides.append(runs)
        before, after = sides
        text = render(before, after, pool(before), pool(after), command(args))
    except ReportError as error:
        raise CliError(str(error)) from None
    if args.out:
        Path(args.out).write_text(text)
        print(f"{args.out}: {len(before)} runs before, {len(after)} after")
    else:
        sys.stdout.write(text)
    return 0


def command(args: argparse.Namespace) -> str:
    """The command line that regenerates the comparison."""
    where = f"--results-dir {args.results_dir} " if args.results_dir != "results" else ""
    return f"lab compare {where}--before {' '.join(args.before)} --after {' '.join(args.after)}"


def add_commands(sub: SubParsers) -> None:
    compare = sub.add_parser(
        "compare",
        help="what a change did: benchmark runs of the code before and after it, compared",
        description="Pool the benchmark runs of each side (every repetition of every run, in "
        "the order given) and compare them figure by figure: latency per operation and load, "
        "CPU per component, database transactions per operation, capacity. A figure is named "
        "lower or higher only when the two sides' ranges do not overlap. Take the runs in "
        "alternation (before, after, after, before, ...) so that a drift of the machine "
        "reaches both sides.",
    )
    compare.add_argument(
        "--before", nargs="+", required=True, metavar="RUN_ID", help="runs of the old code"
    )
    compare.add_argument(
        "--after", nargs="+", required=True, metavar="RUN_ID", help="runs of the new code"
    )
    compare.add_argument(
        "--results-dir", default="results", help="where the runs are (default results)"
    )
    compare.add_argument("--out", help="write the Markdown here (default: standard output)")
    compare.set_defaults(run=run)
