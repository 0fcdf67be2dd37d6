"""Operating a running stack: `lab metrics`, `lab dlq list/replay` and `lab rebuild query`
(the last three for the async stack, through its bus)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
from nats.js import JetStreamContext

from async_impl.admin import dead_letters, replay_dead_letters, wait_caught_up
from blog.rpc.channels import sync_channel
from blog.rpc.metrics import decode_histogram
from blog.rpc.metrics import fetch as fetch_metrics
from blog.v1 import internal_pb2, internal_pb2_grpc
from lab.cli.bounds import number
from lab.cli.common import CliError, SubParsers, find_stack_file, stack_command, stack_options
from lab.stack.stackfile import StackInfo, bus_urls, load_stack_file
from lab.stack.topology import SERVICES

T = TypeVar("T")
REBUILD_TIMEOUT_S = 30.0


def _load_stack(args: argparse.Namespace) -> StackInfo:
    return load_stack_file(find_stack_file(args.stack))


# --- lab metrics -----------------------------------------------------------------------------
def run_metrics(args: argparse.Namespace) -> int:
    stack = _load_stack(args)
    if args.service not in stack["services"]:
        raise CliError(f"unknown service {args.service!r}")
    for address in stack["services"][args.service]:
        snap = fetch_metrics(address, timeout_s=args.timeout)
        print(f"{args.service} at {address}")
        for name, value in sorted(snap.counters.items()):
            print(f"  {name} = {value}")
        for name, gauge in sorted(snap.gauges.items()):
            print(f"  {name} = {gauge:g} (now)")
        for name, encoded in sorted(snap.histograms.items()):
            h = decode_histogram(encoded)
            p = {q: h.get_value_at_percentile(q) / 1000 for q in (50, 90, 99, 99.9)}
            print(
                f"  {name}: n={h.get_total_count()} p50={p[50]:.2f}ms p90={p[90]:.2f}ms "
                f"p99={p[99]:.2f}ms p99.9={p[99.9]:.2f}ms max={h.get_max_value() / 1000:.2f}ms"
            )
    return 0


# --- the bus of an async stack ---------------------------------------------------------------
def _bus_urls(stack: StackInfo) -> list[str]:
    if "bus" not in stack:
        raise CliError(f"this is a {stack['impl']} stack: it has no bus (use an async stack)")
    return bus_urls(stack)


async def _ignore(error: Exception) -> None:
    pass


async def _with_bus(stack: StackInfo, action: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    try:
        # Two attempts, then NoServersError (nats.py retries forever with 0); errors are reported
        # once below, not printed by the client as tracebacks.
        nc = await nats.connect(
            _bus_urls(stack),
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            error_cb=_ignore,
        )
    except Exception as error:
        where = ",".join(_bus_urls(stack))
        raise CliError(f"cannot reach the bus at {where}: {error}") from None
    try:
        return await action(nc.jetstream())
    finally:
        await nc.close()


def run_dlq_list(args: argparse.Namespace) -> int:
    stack = _load_stack(args)
    letters = asyncio.run(_with_bus(stack, dead_letters))
    if args.json:
        rows = [{k: v for k, v in vars(x).items() if k != "data"} for x in letters]
        print(json.dumps(rows, indent=2))
        return 0
    if not letters:
        print("no dead letters")
    for x in letters:
        print(
            f"#{x.seq} consumer={x.consumer} subject={x.subject} stream_seq={x.original_seq} "
            f"delivered={x.delivered}\n    event: {x.event}\n    reason: {x.reason}"
        )
    return 0


def run_dlq_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.seq:
        raise CliError(
            "name the dead letters to replay (their #numbers from `lab dlq list`) or --all"
        )
    stack = _load_stack(args)
    wanted = None if args.all else set(args.seq)
    replayed = asyncio.run(_with_bus(stack, lambda js: replay_dead_letters(js, wanted)))
    for x in replayed:
        print(f"replayed #{x.seq} ({x.event}) to {x.subject}")
    missing = (wanted or set()) - {x.seq for x in replayed}
    if missing:
        print(f"not found in the dead-letter stream: {sorted(missing)}", file=sys.stderr)
        return 1
    print(f"{len(replayed)} dead letter(s) replayed")
    return 0


def run_rebuild_query(args: argparse.Namespace) -> int:
    stack = _load_stack(args)
    _bus_urls(stack)  # refuses a stack without a bus
    address = stack["services"]["query"][0]
    with sync_channel(address) as channel:
        reply = internal_pb2_grpc.QueryAdminServiceStub(channel).Rebuild(
            internal_pb2.RebuildRequest(), timeout=args.timeout
        )
    print(f"query read model emptied; replaying the event store up to seq {reply.replay_until_seq}")

    def progress(pending: int, acked: int) -> None:
        print(f"  replayed through seq {acked}, {pending} pending", flush=True)

    done = asyncio.run(
        _with_bus(stack, lambda js: wait_caught_up(js, "query", args.wait, progress))
    )
    if not done:
        raise CliError(f"the query service had not caught up after {args.wait:g}s")
    print("rebuilt: the query service has applied every event in the store")
    return 0


# --- parser ----------------------------------------------------------------------------------
def add_commands(sub: SubParsers) -> None:
    p = stack_command(
        sub, "metrics", run_metrics, "counters and latency histograms a service records"
    )
    p.add_argument("service", choices=SERVICES)

    dlq = sub.add_parser("dlq", help="dead letters of the async stack").add_subparsers(
        dest="dlq_command", required=True, metavar="ACTION"
    )
    stack_command(dlq, "list", run_dlq_list, "list events consumers gave up on, with the reason")
    p = stack_command(
        dlq, "replay", run_dlq_replay, "publish dead letters again (after fixing the cause)"
    )
    p.add_argument("seq", nargs="*", type=number(int, ge=1), help="#numbers from `lab dlq list`")
    p.add_argument("--all", action="store_true", help="replay every dead letter")

    rebuild = sub.add_parser("rebuild", help="rebuild a read model (async)").add_subparsers(
        dest="rebuild_command", required=True, metavar="SERVICE"
    )
    what = "empty the query service's read model and replay the event store into it"
    p = rebuild.add_parser("query", help=what, description=what)
    # The call stops the consumer, empties the read model and recreates the consumer: seconds
    # on a busy 2-core machine (CI once saw a 5 s deadline pass while the service completed it).
    stack_options(
        p,
        timeout_s=REBUILD_TIMEOUT_S,
        timeout_help="deadline in seconds of the call that empties the read model and resets "
        "its consumer",
    )
    p.set_defaults(run=run_rebuild_query)
    p.add_argument(
        "--wait",
        type=number(float, gt=0),
        default=120.0,
        help="seconds to wait for catch-up (default 120)",
    )
