"""`lab report`: REPORT.md and its figures from the runs in results/ (docs/METHOD.md, Results
and report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lab.cli.common import CliError, SubParsers


def run(args: argparse.Namespace) -> int:
    # Imported here: matplotlib and the report's modules, which no other command needs.
    from lab.report.build import build
    from lab.report.compact import compact_copy
    from lab.report.sources import ReportError, select

    try:
        runs = select(Path(args.results_dir), args.run_ids, args.baseline, args.allow_mixed)
        if args.keep_runs:
            # Report from the compact copies, so that `lab report <the copies>` gives the same.
            keep = Path(args.keep_runs)
            copies = [str(compact_copy(r.path, keep)) for r in runs.all() if r is not runs.baseline]
            base = str(compact_copy(runs.baseline.path, keep)) if runs.baseline else None
            runs = select(keep, copies, base, args.allow_mixed)
            print(f"compact copies of the runs in {keep}/")
    except ReportError as error:
        raise CliError(str(error)) from None
    out = Path(args.out)
    written = build(runs, out, Path(args.figures_dir) if args.figures_dir else None)
    used = ", ".join(f"{r.kind} {r.run_id}" for r in runs.all())
    print(f"{written.report} and {len(written.figures)} figures from {used}")
    return 0


def add_commands(sub: SubParsers) -> None:
    report = sub.add_parser(
        "report",
        help="write REPORT.md and its figures from results/<run-id>/",
        description="Read benchmark, chaos, overload and causality runs (by default the newest "
        "of each kind under --results-dir), all finished and of one clean commit, and write "
        "REPORT.md, the answer first, with its PNG figures in report-figures/ beside it. The "
        "same runs always give the same bytes.",
    )
    report.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="run ids (or run directories)")
    report.add_argument("--results-dir", default="results", help="where runs are (default results)")
    report.add_argument(
        "--baseline",
        metavar="RUN_ID",
        help="a benchmark run of the same suite to compare the benchmark run with (what a change "
        "did: each figure before and after, named a change only beyond both spreads)",
    )
    report.add_argument(
        "--allow-mixed",
        action="store_true",
        help="report anyway from runs that did not finish, measured a dirty tree, or measured "
        "different commits (refused otherwise); the report then says so on its first screen",
    )
    report.add_argument("--out", default="REPORT.md", help="the report file (default REPORT.md)")
    report.add_argument(
        "--figures-dir", help="where the figures go (default: report-figures/ beside --out)"
    )
    report.add_argument(
        "--keep-runs",
        metavar="DIR",
        help="copy the runs' raw measurements (summaries, HDR histograms, timelines, audits, "
        "flame graphs; no logs) to DIR/<run-id>/ and report from those copies: a report and "
        "the results it came from, small enough to commit",
    )
    report.set_defaults(run=run)
