"""`lab fault`: inject real faults into a running stack and restore them, through its
fault-control API (stack.control; address and token in the stack's stack.json)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lab.cli.common import CliError, SubParsers, find_stack_file, stack_options
from lab.cli.parser import LabRawDescriptionHelpFormatter
from lab.stack.bus_failover import ROLES
from lab.stack.control import ControlClient, ControlError, clock
from lab.stack.faults import ALL, BUS, KINDS, Fault, FaultError
from lab.stack.topology import SERVICES

FAULT_TIMEOUT_S = 60.0  # a restore restarts processes: seconds, not milliseconds

DESCRIPTION = """\
Inject a real fault into the stack a running `lab up` serves, and restore it. Faults are
addressed by component name and act on the real processes:

  kill-db SERVICE    SIGKILL of the service's PostgreSQL postmaster (its backends exit by
                     themselves within ~2 s). Restore: PostgreSQL starts again on the same
                     data directory and port (crash recovery keeps every committed row).
  freeze-db SERVICE  SIGSTOP of the postmaster and all its children (stopping the postmaster
                     alone would leave open sessions working): queries hang. Restore: SIGCONT.
  kill SERVICE       SIGKILL of every replica of the service. Restore: each replica starts
                     again on its own address, so clients and peers reconnect by themselves.
  freeze SERVICE     SIGSTOP of every replica: calls to it hang until their deadline.
                     Restore: SIGCONT.
  kill-bus           SIGKILL of nats-server (async only; on a bus cluster, of every node).
                     Restore: it starts again on the same store and ports; services
                     reconnect and resubscribe.
  kill-bus-node ROLE SIGKILL of one node of a bus cluster (`lab up --bus-nodes 3`): the event
                     stream's `leader` or a `follower`, chosen from the servers' own view at
                     that moment. The record names the node, and the time until the stream
                     (and each consumer) had a leader again. Restore: the node starts again
                     on its store and ports and catches up from the others.
  freeze-bus-node ROLE
                     SIGSTOP of that node: its peers stop hearing from it. Restore: SIGCONT.

Gray faults act on the links between the parts, through the stack's fault proxies (start it
with `lab up --fault-proxies`; `lab chaos` always has them). A dose is in ms or %:

  slow-db SERVICE [MS]   the service's database answers MS +- 10 % later (default 100)
  slow SERVICE [MS]      the service answers its clients and its callers MS +- 10 % later
  slow-bus [MS]          nats-server's messages reach every service MS +- 10 % later (async)
  partition A B          a blackhole between two parts: connections held open and silent
  partition-reset A B    the same cut, but every connection reset (RST)
  lossy A B [PCT]        each chunk resets its connection with probability PCT % (default 10)
  packet-loss A B [PCT]  nftables drops PCT % of the link's packets both ways (default 10)

A part is a service, its database (db:SERVICE), the bus or the clients: e.g. `lab fault
partition comments posts`, `lab fault lossy posts db:posts 5`, `lab fault slow-db posts 200`.
Their restore heals the link: what a partition held flows on, in order.

`lab fault restore SERVICE` undoes every active fault on that service (its database and its
replicas), `restore bus` the bus, `restore all` everything. Restoring what is not faulted does
nothing. Each command prints one line with what happened and when (local time of day);
`lab fault list` shows the active faults and every fault this stack can take. `lab up` prints
the same lines, and warns when a part stops running.

The API listens on 127.0.0.1 only and obeys only who can read stack.json (0600): its
"control" block holds the URL and a random token every request must carry as
`Authorization: Bearer <token>`."""


def _client(args: argparse.Namespace) -> ControlClient:
    try:
        return ControlClient.from_stack_file(find_stack_file(args.stack), timeout_s=args.timeout)
    except ControlError as error:
        raise CliError(str(error)) from None


def _call(args: argparse.Namespace, action: str, argument: str = "") -> dict[str, Any]:
    client = _client(args)
    try:
        if action == "list":
            return client.list()
        if action == "restore":
            return client.restore(argument)
        return client.inject(argument)
    except ControlError as error:
        raise CliError(f"fault control: {error}") from None


def _print_json(reply: dict[str, Any]) -> None:
    print(json.dumps(reply, indent=2))


# --- commands --------------------------------------------------------------------------------
def run_inject(args: argparse.Namespace) -> int:
    reply = _call(args, "inject", fault_text(args))
    if args.json:
        _print_json(reply)
    else:
        print(f"injected {reply['fault']} at {clock(reply['injected_at'])} ({reply['detail']})")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    reply = _call(args, "restore", args.target)
    if args.json:
        _print_json(reply)
        return 0
    if not reply["restored"]:
        print(reply["message"])
    for record in reply["records"]:
        print(
            f"restored {record['fault']} at {clock(record['restored_at'])} "
            f"({record['restore_detail']})"
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    reply = _call(args, "list")
    if args.json:
        _print_json(reply)
        return 0
    active = reply["active"]
    print(f"{reply['impl']} stack: {len(active)} active fault(s)")
    for record in active:
        print(f"  {record['fault']:<20} since {clock(record['injected_at'])} ({record['detail']})")
        print(failover_line(record), end="")
    restored = [r for r in reply["history"] if r["restored_at"] is not None]
    if restored:
        print("restored:")
    for r in restored:
        print(
            f"  {r['fault']:<20} {clock(r['injected_at'])} -> {clock(r['restored_at'])} "
            f"({r['restored_at'] - r['injected_at']:.1f} s)"
        )
        print(failover_line(r), end="")
    print("faults this stack can take (`lab fault KIND [SERVICE]`; `lab fault --help`):")
    if not reply.get("fault_proxies", True):
        print(
            "  (gray faults need fault proxies: this stack runs without; start it with "
            "`lab up --fault-proxies`)"
        )
    targets: dict[str, list[str]] = {}
    for item in reply["catalogue"]:
        targets.setdefault(item["kind"], [])
        if item.get("peer"):
            targets[item["kind"]].append(f"{item['target']},{item['peer']}")
        elif item["target"] != BUS:
            targets[item["kind"]].append(item["target"])
    for kind, services in targets.items():
        info = KINDS.get(kind)
        dose = f" [{info.unit}: default {info.default_dose:g}]" if info and info.unit else ""
        print(f"  {kind:<10} {' '.join(services)}{dose}".rstrip())
    return 0


def failover_line(record: dict[str, Any]) -> str:
    """For a bus-node fault: the node and the election after it, as the servers saw it."""
    bus = record.get("bus")
    if not bus:
        return ""
    role = "the leader" if bus["role"] == "leader" else "a follower"
    head = f"    {bus['node']} was {role} of {bus['stream']}"
    if bus["stream_leader_s"] is None:
        return f"{head}; {'no leader yet' if bus['watching'] else 'no new leader seen'}\n"
    line = f"{head}; led by {bus['leader_after']} after {bus['stream_leader_s']:.2f} s"
    if bus["consumers_leader_s"] is not None:
        line += f", its {bus['consumers']} consumers after {bus['consumers_leader_s']:.2f} s"
    return line + "\n"


# --- the parser ------------------------------------------------------------------------------
def _options(p: argparse.ArgumentParser) -> None:
    stack_options(
        p,
        timeout_s=FAULT_TIMEOUT_S,
        timeout_help="seconds to wait for the API (a restore restarts processes)",
        json_help="print the API's reply as JSON",
    )


def add_commands(sub: SubParsers) -> None:
    fault = sub.add_parser(
        "fault",
        help="inject a real fault (kill/freeze a database, a service, the bus) and restore it",
        description=DESCRIPTION,
        formatter_class=LabRawDescriptionHelpFormatter,
    )
    kinds = fault.add_subparsers(dest="fault_command", required=True, metavar="ACTION")

    p = kinds.add_parser(
        "list",
        help="active faults, restored ones, and every fault this stack can take",
        description="Show the active faults (with when each was injected), those restored, "
        "and the catalogue of faults this stack's implementation can take.",
    )
    _options(p)
    p.set_defaults(run=run_list)

    for kind, info in KINDS.items():
        does = info.does.replace("MS", "DOSE ms").replace("PCT", "DOSE")
        text = f"{does}. Restore (`lab fault restore`): {info.restore}."
        # argparse formats a help (not a description) with %: a share's % must be %%.
        p = kinds.add_parser(kind, help=does.replace("%", "%%"), description=text)
        if info.scope == "link":
            p.add_argument("part", help="a service, db:SERVICE, bus or clients")
            p.add_argument("other", help="the part at the other end of the link")
        elif info.scope == "bus-node":
            p.add_argument("role", choices=ROLES, help="the event stream's leader, or a follower")
        elif info.scope != "bus":
            p.add_argument(
                "service",
                choices=SERVICES,
                help="the service"
                + ("" if info.scope == "service" else " whose database (sync query owns none)"),
            )
        if info.unit:
            p.add_argument(
                "dose",
                nargs="?",
                help=f"{'latency' if info.unit == 'ms' else 'share'} in "
                f"{info.unit.replace('%', '%%')} (default {info.default_dose:g})",
            )
        _options(p)
        p.set_defaults(run=run_inject, kind=kind)

    p = kinds.add_parser(
        "restore",
        help="undo the active faults on a service, the bus, or all",
        description="Undo every active fault on TARGET: a service (its database and its "
        "replicas: a killed PostgreSQL or replica starts again on the same port, a frozen one "
        "gets SIGCONT), the bus (nats-server starts again on the same ports and store; a "
        "killed or frozen node of a bus cluster likewise) or all. "
        "Restoring something that is not faulted does nothing and says so.",
    )
    p.add_argument("target", choices=[*SERVICES, BUS, ALL], help="what to restore")
    _options(p)
    p.set_defaults(run=run_restore)


def fault_text(args: argparse.Namespace) -> str:
    """The fault an inject command's arguments name (kill-db:comments, kill-bus,
    kill-bus-node:leader, slow-db:posts:200, partition:comments,posts), checked: bad input is
    a one-line error here, before any request (the control API would answer 400)."""
    info = KINDS[args.kind]
    if info.scope == "link":
        text = f"{args.kind}:{args.part},{args.other}"
    elif info.scope == "bus":
        text = args.kind
    elif info.scope == "bus-node":
        text = f"{args.kind}:{args.role}"
    else:
        text = f"{args.kind}:{args.service}"
    dose = getattr(args, "dose", None)
    if dose is not None:
        text += f"@{dose}"
    try:
        return str(Fault.parse(text))
    except FaultError as error:
        raise CliError(str(error)) from None
