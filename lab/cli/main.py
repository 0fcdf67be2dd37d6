"""`lab`: run a stack (`lab up`) and use it by hand (`lab post`, `lab comment`, `lab view`, ...).

Each concern adds its subcommands (lab.cli.up, .client_commands, .admin, .bench, .fault, ...);
every subcommand sets `run`, a function of its arguments returning the exit code. Every option
value is checked as it is parsed (lab/cli/bounds.py), so bad input gets one line and exit code 2
(lab/cli/parser.py) before anything starts.
"""

from __future__ import annotations

import argparse
import signal
import sys

import grpc

from lab.cli import admin, bench, chaos, client_commands, compare, fault, report, trace, up
from lab.cli.common import CliError
from lab.cli.parser import LabParser


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = LabParser(
        prog="lab",
        description="The sync-vs-async microservices lab: run a stack of real processes "
        "(PostgreSQL per service, gRPC services) and talk to it.",
        epilog="Typical use: `lab up --impl sync` in one terminal; in another, "
        "`lab post create --title hello`, `lab comment add POST_ID 'nice'`, `lab view POST_ID`; "
        "`lab fault kill-db comments` then `lab fault restore comments` to see a fault.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up.add_commands(sub)  # up
    client_commands.add_commands(sub)  # post, comment, view, list
    admin.add_commands(sub)  # metrics, dlq, rebuild
    bench.add_commands(sub)  # bench
    fault.add_commands(sub)  # fault list/kill-db/freeze-db/kill/freeze/kill-bus/restore
    chaos.add_commands(sub)  # chaos experiments and the blast-radius matrix
    report.add_commands(sub)  # REPORT.md from results/
    compare.add_commands(sub)  # before and after a change, from benchmark runs
    trace.add_commands(sub)  # the per-hop breakdown of traced requests
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one `lab` command; errors are one line on stderr (gRPC's exit 1, the CLI's 2)."""
    args = build_parser().parse_args(argv)
    # SIGTERM as Ctrl-C: a run's stacks, generators and files are cleaned up the same way
    # (a shell script's background job ignores Ctrl-C's SIGINT; `lab up` sets its own).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        print(f"error: {code.name}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
