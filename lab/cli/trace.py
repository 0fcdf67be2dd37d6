"""`lab trace RUN_OR_DIR`: where each millisecond of a traced request went, per hop (lab/trace/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lab.cli.common import CliError, SubParsers

OUT = "trace-breakdown"


def source_of(args: argparse.Namespace) -> Path:
    """A directory or file as given, else a run id under --results-dir."""
    given = Path(args.source)
    if given.exists():
        return given
    under_results = Path(args.results_dir) / args.source
    if under_results.exists():
        return under_results
    raise CliError(f"{args.source}: no such directory, file or run under {args.results_dir}/")


def run(args: argparse.Namespace) -> int:
    # Imported here: matplotlib, which no other client command needs.
    from lab.trace.otlp import TraceFileError
    from lab.trace.summary import NoTraces, summarize, table

    source = source_of(args)
    out = Path(args.out) if args.out else (source if source.is_dir() else source.parent) / OUT
    try:
        summary = summarize(source, out, [o for o in args.waterfalls.split(",") if o])
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
    trace.add_argument("source", metavar="RUN_OR_DIR", help="a directory, a file or a run id")
    trace.add_argument("--out", help=f"where the summary and figures go (default RUN_OR_DIR/{OUT})")
    trace.add_argument(
        "--waterfalls",
        default="CreateComment",
        metavar="OP,...",
        help="operations to draw waterfalls of (default CreateComment)",
    )
    trace.add_argument("--results-dir", default="results", help="where run ids are looked up")
    trace.set_defaults(run=run)
