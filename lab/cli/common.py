"""What every `lab` command shares: the one-line error, finding a running stack, the stack
options of the commands that talk to one, and printing a reply as text or JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from lab.cli.bounds import number, one_or_more, parsed
from lab.stack.config import PrometheusSettings, StackOptions
from lab.stack.faults import FaultError, parse_fault, split_faults
from lab.stack.topology import TOPOLOGY

DEFAULT_DATA_ROOT = Path(".lab")
CLIENT_TIMEOUT_S = 5.0

# What `--impl` of bench and chaos takes: one or more implementations (sync,async).
IMPLEMENTATIONS = one_or_more(tuple(TOPOLOGY))


def fault_text(text: str) -> str:
    """A fault as text, checked (kind, and service if it takes one) and normalized."""
    return str(parse_fault(text))


# A fault of `lab chaos --fault` and `lab bench --causality-faults`; whether it applies to the
# implementations chosen is checked beside them.
FAULT = parsed(
    fault_text,
    "a fault: KIND:SERVICE, kill-bus, KIND:ROLE or a gray fault, e.g. slow-db:posts:200, "
    "partition:comments,posts (see `lab fault --help`)",
)


def fault_texts(text: str) -> list[str]:
    """Comma-separated faults, each checked and normalized; a link's comma is kept
    (`kill:posts,partition:comments,posts` is two faults)."""
    faults = [fault_text(t) for t in split_faults(text)]
    if not faults:
        raise ValueError("must be one or more faults, got none")
    return faults


# `lab chaos --fault`: one or more faults (FAULT, comma-separated).
FAULTS = parsed(fault_texts, f"{FAULT.allowed}; several with commas")


def faults_apply(
    option: str, faults: list[str], impls: list[str], bus_nodes: int | None = None
) -> None:
    """Refuse a fault that applies to none of the implementations chosen (with a bus of
    `bus_nodes` nodes, when given), saying why (kill-bus alone against sync, kill-bus-node on
    one node); one that applies to some is run where it applies."""
    for fault in faults:
        refusals = []
        for impl in impls:
            try:
                parse_fault(fault, impl, bus_nodes)
            except FaultError as error:
                refusals.append(str(error))
        if len(refusals) == len(impls):
            raise CliError(f"{option}: {refusals[0]}")


# The one dispatch convention: every subcommand sets `run`, a function of its arguments
# returning the exit code.
Run: TypeAlias = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """An error to print as one line, with no traceback."""


def find_stack_file(given: str | None) -> Path:
    if given:
        path = Path(given)
        if path.is_dir():
            path = path / "stack.json"
        if not path.exists():
            raise CliError(f"{path} does not exist: is `lab up` running with that data dir?")
        return path
    running = sorted(DEFAULT_DATA_ROOT.glob("*/stack.json"))
    if not running:
        raise CliError("no running stack found under .lab/: start one with `lab up --impl sync`")
    if len(running) > 1:
        names = ", ".join(str(p) for p in running)
        raise CliError(f"several stacks are running ({names}); choose one with --stack")
    return running[0]


def stack_options(
    p: argparse.ArgumentParser,
    *,
    timeout_s: float = CLIENT_TIMEOUT_S,
    timeout_help: str = "deadline in seconds",
    json_help: str = "print the reply as JSON",
) -> None:
    """The options of every command that talks to a running stack: --stack, --json, --timeout."""
    p.add_argument(
        "--stack",
        help="stack.json (or its directory) of a running `lab up`; "
        "default: the only one under .lab/",
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument(
        "--timeout",
        type=number(float, gt=0),
        default=timeout_s,
        help=f"{timeout_help} (default {timeout_s:g})",
    )


def stack_command(
    parent: SubParsers, name: str, run: Run, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand that talks to a running stack: --stack, --json and --timeout."""
    p = parent.add_parser(name, help=help_text, description=help_text)
    stack_options(p)
    p.set_defaults(run=run)
    return p


def observability_options(p: argparse.ArgumentParser) -> None:
    """--prometheus and --no-metrics, of every command that starts stacks."""
    p.add_argument(
        "--prometheus",
        action="store_true",
        help="also run a Prometheus server (Debian's package: apt-get install -y prometheus) "
        "that scrapes every process of the stack each second, with the lab's recording rules; "
        "its URL is printed at start (docs/METHOD.md, Watching a run live)",
    )
    p.add_argument(
        "--no-metrics",
        action="store_true",
        help="no Prometheus /metrics from the services and no bus exporter (the services' "
        "own MetricsService stays): to measure what exposition costs",
    )


def observed(
    args: argparse.Namespace, home: Path | None, say: Callable[[str], None]
) -> StackOptions:
    """The stack options --prometheus and --no-metrics ask for, checked before anything starts.

    home: where a command that runs several stacks keeps its one Prometheus's data (one port
    too, so one URL for the whole command), said at once; None: each stack's own data dir."""
    from lab.stack.prometheus import PrometheusMissing, find_prometheus, free_port

    if args.prometheus and args.no_metrics:
        raise CliError("--prometheus scrapes the services' /metrics: not with --no-metrics")
    prometheus = None
    if args.prometheus:
        try:
            find_prometheus()
        except PrometheusMissing as error:
            raise CliError(str(error)) from None
        if home is None:
            prometheus = PrometheusSettings()
        else:
            prometheus = PrometheusSettings(home.resolve(), free_port())
            say(
                f"prometheus: http://127.0.0.1:{prometheus.port} while each stack runs "
                f"(scrapes every process each second; data in {prometheus.home})"
            )
    return StackOptions(metrics=not args.no_metrics, prometheus=prometheus)


def emit(args: argparse.Namespace, message: Message, text: str) -> None:
    """Print a reply: `text`, or with --json the message itself."""
    if args.json:
        print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))
    else:
        print(text)
