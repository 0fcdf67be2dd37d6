"""`lab up`: run a whole stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from blog.domain import CAUSALITY_ACCEPT_S, CAUSALITY_WAIT_S, DEFAULT_CAUSALITY, CausalityPolicy
from blog.rpc.refusal import shown
from lab.cli.bounds import each_or_all, number, parsed, setting
from lab.cli.common import (
    DEFAULT_DATA_ROOT,
    CliError,
    SubParsers,
    observability_options,
    observed,
)
from lab.stack.config import StackConfig
from lab.stack.control import ControlServer
from lab.stack.errors import StackError
from lab.stack.runner import Stack
from lab.stack.stackfile import bus_urls
from lab.stack.topology import IMPLS, SERVICES

# Replicas of a service: at least one (a stack without one of its services is not a stack);
# `lab bench --replicas` counts the same way.
REPLICA_COUNT = number(int, ge=1)


def bus_node_count(text: str) -> int:
    """The nats-servers of a bus: 1, or 3 or more (a cluster of two loses its quorum with
    either node: no safer than one, at twice the cost)."""
    try:
        count = int(text.strip())
    except ValueError:
        count = 0
    if count < 1 or count == 2:
        raise ValueError(
            f"must be 1, or 3 or more (a cluster of 2 loses its quorum with either node), "
            f"got {shown(text)}"
        )
    return count


BUS_NODES = parsed(bus_node_count, "1, or 3 or more nats-servers")


def report_exits(reported: set[str], gone: list[str]) -> list[str]:
    """Warnings for parts that stopped running since the last call. A part that is back is
    forgotten, so that a later fault on it is reported again."""
    lines = [f"warning: {part} is not running" for part in gone if part not in reported]
    reported.clear()
    reported.update(gone)
    return lines


def say(line: str) -> None:
    print(line, flush=True)


def run_up(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or DEFAULT_DATA_ROOT / args.impl
    stop_requested = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    try:
        options = replace(
            observed(args, None, say),
            replicas=args.replicas or {},
            bus_nodes=args.bus_nodes,
            stream_replicas=args.stream_replicas,
            blocklist=args.blocklist,
            moderation_delay_ms=args.moderation_delay_ms,
            call_timeout_ms=args.call_timeout_ms,
            causality=args.causality,
            causality_wait_ms=args.causality_wait_ms,
            causality_accept_s=args.causality_accept_s,
            trace_sample=args.trace_sample,
            trace_dir=args.trace_dir,
            fault_proxies=args.fault_proxies,
        )
    except ValueError as error:  # more stream replicas than nodes
        raise CliError(f"--stream-replicas: {error}") from None
    config = StackConfig(args.impl, Path(data_dir), options, fresh=args.fresh)
    # Handle SIGTERM like Ctrl-C, from the start: a stop during start-up must clean up too.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = Stack(config)
    # The fault-control API (`lab fault`): listening before the stack starts, so the stack's
    # one first write of stack.json already holds its address and token.
    control = ControlServer(stack, announce=say)
    try:
        control.start()
        stack.start(progress=True)
        described = stack.describe()
        summary = " ".join(f"{n}={','.join(a)}" for n, a in described["services"].items() if a)
        if "bus" in described:
            summary += f" bus={','.join(bus_urls(described))}"
            summary += f" stream_replicas={options.stream_replica_count()}"
        print(f"ready impl={args.impl} stack={stack.stack_file} {summary}", flush=True)
        print(
            f"fault control at {control.url} (token in stack.json): see `lab fault --help`",
            flush=True,
        )
        if options.trace_sample:
            print(f"traces -> {stack.trace_dir} (per hop: `lab trace {data_dir}`)", flush=True)
        if "prometheus" in described:
            print(
                f"prometheus at {described['prometheus']['url']} (every process scraped each "
                f"second; data in {described['prometheus']['home']})",
                flush=True,
            )
        print("press Ctrl-C (or send SIGTERM) to stop everything", flush=True)
        reported: set[str] = set()
        while not stop_requested:
            for line in report_exits(reported, stack.exited()):  # exited() takes stack.lock
                say(line)
            time.sleep(0.2)
        print("stopping ...", flush=True)
    except StackError as error:
        raise CliError(str(error)) from None
    finally:
        # Ignore further signals while stopping, so a second Ctrl-C cannot leave orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        control.stop()  # no fault may start while the stack stops
        stack.stop()
    print("stopped", flush=True)
    return 0


def add_commands(sub: SubParsers) -> None:
    up = sub.add_parser(
        "up",
        help="run a whole stack in the foreground until Ctrl-C/SIGTERM",
        description="Start one PostgreSQL server per data-owning service and every service "
        "process, wait until all are healthy, write DATA_DIR/stack.json and print a line "
        "starting with 'ready'. Ctrl-C or SIGTERM stops everything and removes stack.json. "
        "While it runs it serves the fault-control API on loopback (`lab fault`; its address "
        "and token are in stack.json) and warns of every part that stops running.",
    )
    up.add_argument("--impl", required=True, choices=IMPLS, help="implementation")
    up.add_argument(
        "--data-dir",
        type=Path,
        help="where data, logs and stack.json live "
        "(default .lab/IMPL; databases persist across runs)",
    )
    up.add_argument("--fresh", action="store_true", help="delete existing data first")
    up.add_argument(
        "--replicas",
        type=each_or_all(SERVICES, REPLICA_COUNT),
        metavar="N|SVC=N,...",
        help="replicas per service, e.g. 2 or posts=2,comments=2 (default 1)",
    )
    up.add_argument(
        "--blocklist", help="comma-separated words moderation rejects (default: orange,spam,scam)"
    )
    # The services' settings: checked against the services' own bounds (blog/rpc/settings.py).
    up.add_argument(
        "--moderation-delay-ms",
        type=setting("moderation_delay_ms"),
        help="artificial cost of each moderation decision (default 0: none)",
    )
    up.add_argument(
        "--call-timeout-ms",
        type=setting("call_timeout_ms"),
        help="deadline of each service-to-service call (default 1000)",
    )
    add_bus_options(up)
    add_causality_options(up)
    add_trace_options(up)
    observability_options(up)
    up.add_argument(
        "--fault-proxies",
        action="store_true",
        help="put a fault proxy on every link (each service to its database, its peers and "
        "the bus; the clients to each service), so that `lab fault` can slow, cut or reset "
        "them (slow-db, slow, slow-bus, partition, partition-reset, lossy, packet-loss); "
        "stack.json's addresses are then the proxy's",
    )
    up.set_defaults(run=run_up)


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    """--trace-sample and --trace-dir (OpenTelemetry traces of the services)."""
    parser.add_argument(
        "--trace-sample",
        type=setting("trace_sample"),
        metavar="SHARE",
        help="trace this share of requests (e.g. 0.05; default 0: tracing off), every "
        "process writing OTLP JSON lines to a file of its own (read them with `lab trace`)",
    )
    parser.add_argument(
        "--trace-dir",
        type=Path,
        help="where the trace files go (default DATA_DIR/traces)",
    )


def add_bus_options(parser: argparse.ArgumentParser, *, stream_replicas: bool = True) -> None:
    """--bus-nodes (and --stream-replicas): the async stack's bus, one server or a cluster."""
    parser.add_argument(
        "--bus-nodes",
        type=BUS_NODES,
        default=1,
        help="async: nats-servers of the bus: 1 (default), or 3 or more as one JetStream "
        "cluster on loopback (routes, a store per node); streams and consumers are then R3",
    )
    if stream_replicas:
        parser.add_argument(
            "--stream-replicas",
            type=setting("stream_replicas"),
            help="async: replicas of every stream and consumer (default: 3 on a cluster of 3+ "
            "nodes, else 1; at most the node count)",
        )


def add_causality_options(parser: argparse.ArgumentParser) -> None:
    """--causality and its bounds (async: a comment on a post not heard of yet)."""
    parser.add_argument(
        "--causality",
        choices=[p.value for p in CausalityPolicy],
        help="async: a comment on a post the comments service has not heard of yet is refused "
        "at once, waited for (with CreatePost's consistency token) or accepted and decided "
        f"later (default {DEFAULT_CAUSALITY.value}; docs/METHOD.md, Causality across services)",
    )
    parser.add_argument(
        "--causality-wait-ms",
        type=setting("causality_wait_ms"),
        help="wait: longest a comment with a token waits for its post (default "
        f"{CAUSALITY_WAIT_S * 1000:g}; 0: no wait, one more look)",
    )
    parser.add_argument(
        "--causality-accept-s",
        type=setting("causality_accept_s"),
        help="accept: longest a comment is held for its post before REJECTED (default "
        f"{CAUSALITY_ACCEPT_S:g})",
    )
