"""`lab trace RUN_OR_DIR`: where each millisecond of a traced request went, per hop (lab/trace/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lab.cli.common import CliError, SubParsers

OUT = "trace-breakdown"


def source_of(text: str, results_dir: str) -> Path:
    """A directory or file as given, else a run id under --results-dir."""
    given = Path(text)
    if given.exists():
        return given
    under_results = Path(results_dir) / text
    if under_results.exists():
        return under_results
    raise CliError(f"{text}: no such directory, file or run under {results_dir}/")


def run(args: argparse.Namespace) -> int:
    # Imported here: matplotlib, which no other client command needs.
    from lab.trace.otlp import TraceFileError
    from lab.trace.summary import NoTraces, summarize, table

    sources = [source_of(text, args.results_dir) for text in args.source]
    first = sources[0]
    if args.out:
        out = Path(args.out)
    elif len(sources) > 1:
        raise CliError("several sources: say where the summary goes with --out")
    else:
        out = (first if first.is_dir() else first.parent) / OUT
    try:
        summary = summarize(sources, out, [o for o in args.waterfalls.split(",") if o])
    except (NoTraces, TraceFileError) as error:
        raise CliError(str(error)) from None
    print(table(summary))
    print(f"summary and figures: {out}")
    return 0


def add_commands(sub: SubParsers) -> None:
    trace = sub.add_parser(
        "trace",
        help="the per-hop breakdown of traced requests (run with --trace-sample)",
        description="Read every OTLP JSON trace file (*.otlp.jsonl) under RUN_OR_DIR (a "
        "results/ run, a stack's data directory, a directory of files or one file), join the "
        "spans by trace id and print, per implementation and operation, the median and p99 of "
        "each hop: the way to the server and back, the queueing before each handler, each peer "
        "call, each statement, the outbox wait, the publish, the bus delivery, each consumer's "
        "processing, the read-model apply, and the time no span explains. Writes "
        "trace-summary.json and waterfall figures of a typical and the p99 trace.",
    )
    trace.add_argument(
        "source",
        metavar="RUN_OR_DIR",
        nargs="+",
        help="a directory, a file or a run id; several are pooled (e.g. the runs of one share "
        "of an overhead comparison: RUN/*/trace-0.05-run*; then --out is needed)",
    )
    trace.add_argument("--out", help=f"where the summary and figures go (default RUN_OR_DIR/{OUT})")
    trace.add_argument(
        "--waterfalls",
        default="CreateComment",
        metavar="OP,...",
        help="operations to draw waterfalls of (default CreateComment)",
    )
    trace.add_argument("--results-dir", default="results", help="where run ids are looked up")
    trace.set_defaults(run=run)
