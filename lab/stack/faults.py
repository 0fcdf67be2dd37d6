"""Real faults on a running stack, each with its restore, addressed by component name.

A fault is text: `kill-db:<service>`, `freeze-db:<service>`, `kill:<service>`,
`freeze:<service>`, `kill-bus` (every node of the bus), or, on a bus cluster (--bus-nodes 3),
`kill-bus-node:<role>` and `freeze-bus-node:<role>` (one node: the event stream's `leader` or a
`follower`). `catalogue(impl, bus_nodes)` lists every fault a stack can take (the chaos matrix
iterates it); `Fault.parse(text, impl, bus_nodes)` checks one against the topology.
`FaultController` (every `Stack` has one: `lab.stack.faults`) injects them, remembers which are
active and restores them by component (`restore("comments")`, `"bus"`, `"all"`), recording
wall-clock epoch times (time.time()) of both; a bus-node fault's record also names the node
and, as the servers see it, how long the stream was without a leader (lab.stack.bus_failover).
The control API (stack.control) serves it over HTTP.

What each fault does to the processes is the Stack's (stack.operations); what it means is here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lab.stack.bus_failover import (
    ROLES,
    BusFailover,
    FailoverWatch,
    Role,
    consumers_of,
    pick_node,
)
from lab.stack.bus_view import EVENT_STREAM
from lab.stack.errors import FaultConflict, StackNotRunning
from lab.stack.operations import StackOperations
from lab.stack.topology import IMPLS, SERVICES, TOPOLOGY, start_order

BUS = "bus"
ALL = "all"
CLUSTER_NODES = 3  # the smallest bus a node can be taken from without losing the quorum


class FaultError(ValueError):
    """A fault or restore target that is malformed or does not apply (a client's mistake)."""


@dataclass(frozen=True)
class KindInfo:
    """One kind of fault: whether it is aimed at a service's database, the service or the bus."""

    scope: str  # "database", "service", "bus" or "bus-node"
    does: str
    restore: str


KINDS: dict[str, KindInfo] = {
    "kill-db": KindInfo(
        "database",
        "SIGKILL of the service's PostgreSQL postmaster; its backends exit by themselves "
        "within ~2 s",
        "start PostgreSQL again on the same data directory and port (crash recovery), retried "
        "while the old backends still hold its shared memory",
    ),
    "freeze-db": KindInfo(
        "database",
        "SIGSTOP of the postmaster and all its children: open sessions and new connections hang",
        "SIGCONT all of them",
    ),
    "kill": KindInfo(
        "service",
        "SIGKILL of every replica of the service",
        "start each replica again on its own address",
    ),
    "freeze": KindInfo(
        "service",
        "SIGSTOP of every replica (and its children): calls to it hang until their deadline",
        "SIGCONT them",
    ),
    "kill-bus": KindInfo(
        "bus",
        "SIGKILL of nats-server, of every node on a bus cluster (async only)",
        "start it (them) again on the same stores and ports",
    ),
    "kill-bus-node": KindInfo(
        "bus-node",
        "SIGKILL of one nats-server of a bus cluster: the event stream's leader or a follower "
        "(async, --bus-nodes 3)",
        "start it again on its store and ports; it catches up from the others",
    ),
    "freeze-bus-node": KindInfo(
        "bus-node",
        "SIGSTOP of one nats-server of a bus cluster, the stream's leader or a follower: its "
        "peers stop hearing from it (a gray failure; async, --bus-nodes 3)",
        "SIGCONT it; it learns of the new leader and catches up",
    ),
}
BUS_SCOPES = ("bus", "bus-node")

# Restore order: what others need first (databases, the bus), then services, callees first.
_SCOPE_ORDER = {"database": 0, "bus": 1, "bus-node": 1, "service": 2}


@dataclass(frozen=True, order=True)
class Fault:
    """One fault: `kind` (a key of KINDS) aimed at `target` (a service name, "bus", or for a
    bus-node fault the node's role: "leader" or "follower" of the event stream)."""

    kind: str
    target: str

    @classmethod
    def parse(cls, text: str, impl: str | None = None, bus_nodes: int | None = None) -> Fault:
        """`kill-db:comments`, `kill-bus`, `kill-bus-node:leader`, ...; checked against
        `impl`'s topology and the bus's size when given."""
        text = text.strip()
        kind, sep, target = text.partition(":")
        kind, target = kind.strip(), target.strip()
        kinds = ", ".join(KINDS)
        if not kind:
            raise FaultError(f"empty fault: expected KIND:SERVICE or kill-bus (kinds: {kinds})")
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}: choose from {kinds}")
        if KINDS[kind].scope == "bus":
            if sep and target not in ("", BUS):
                raise FaultError(f"{kind} takes no service (it kills the whole bus): {text!r}")
            fault = cls(kind, BUS)
        elif KINDS[kind].scope == "bus-node":
            if target not in ROLES:
                raise FaultError(
                    f"{kind} needs the node's role: {kind}:leader or {kind}:follower "
                    f"(of the event stream), got {text!r}"
                )
            fault = cls(kind, target)
        else:
            if not target:
                raise FaultError(
                    f"{kind} needs a service: {kind}:SERVICE (services: {', '.join(SERVICES)})"
                )
            if target not in SERVICES:
                raise FaultError(f"unknown service {target!r}: choose from {', '.join(SERVICES)}")
            fault = cls(kind, target)
        if impl is not None:
            fault.check(impl, bus_nodes)
        return fault

    def check(self, impl: str, bus_nodes: int | None = None) -> None:
        """Raise FaultError unless this fault applies to implementation `impl` (with a bus of
        `bus_nodes` nodes, when given)."""
        if impl not in TOPOLOGY:
            raise FaultError(f"unknown implementation {impl!r}: choose from {', '.join(IMPLS)}")
        topology = TOPOLOGY[impl]
        scope = self.scope
        if scope in BUS_SCOPES and not any(spec.uses_bus for spec in topology.values()):
            raise FaultError(
                f"the {impl} implementation has no bus: nothing to kill; "
                f"a {impl} stack does not depend on one"
            )
        if scope == "bus-node" and bus_nodes is not None and bus_nodes < CLUSTER_NODES:
            raise FaultError(
                f"{self.kind} needs a bus cluster (--bus-nodes {CLUSTER_NODES}): this bus is "
                f"{bus_nodes} nats-server{'s' if bus_nodes > 1 else ''}; kill-bus takes it all"
            )
        if scope == "database" and not topology[self.target].owns_database:
            owners = ", ".join(n for n in SERVICES if topology[n].owns_database)
            raise FaultError(
                f"the {impl} {self.target} service owns no database: nothing to {self.kind} "
                f"(services with a database in {impl}: {owners})"
            )

    @property
    def scope(self) -> str:
        """ "database", "service", "bus" or "bus-node"."""
        return KINDS[self.kind].scope

    @property
    def component(self) -> str:
        """What `restore` names to undo it: the service, or "bus" (for a node of it too)."""
        return BUS if self.scope in BUS_SCOPES else self.target

    @property
    def part(self) -> str:
        """The process(es) it acts on: "database comments", "service comments" or "bus" (one
        node or all). At most one fault per part is active at a time."""
        return BUS if self.scope in BUS_SCOPES else f"{self.scope} {self.target}"

    @property
    def does(self) -> str:
        return KINDS[self.kind].does

    @property
    def restore_does(self) -> str:
        return KINDS[self.kind].restore

    def __str__(self) -> str:
        return self.kind if self.scope == "bus" else f"{self.kind}:{self.target}"

    def describe(self) -> dict[str, str]:
        return {
            "fault": str(self),
            "kind": self.kind,
            "target": self.target,
            "does": self.does,
            "restore": self.restore_does,
        }


def parse_fault(text: str, impl: str | None = None, bus_nodes: int | None = None) -> Fault:
    """Fault.parse as a function."""
    return Fault.parse(text, impl, bus_nodes)


def catalogue(impl: str, bus_nodes: int = 1) -> list[Fault]:
    """Every fault implementation `impl` can take: each database (kill-db, freeze-db), each
    service (kill, freeze), then the bus (kill-bus, async only; on a cluster of 3 or more
    nodes also kill-bus-node and freeze-bus-node, on the leader and on a follower)."""
    if impl not in TOPOLOGY:
        raise FaultError(f"unknown implementation {impl!r}: choose from {', '.join(IMPLS)}")
    topology = TOPOLOGY[impl]
    faults = [
        Fault(kind, name)
        for name in SERVICES
        if topology[name].owns_database
        for kind in ("kill-db", "freeze-db")
    ]
    faults += [Fault(kind, name) for name in SERVICES for kind in ("kill", "freeze")]
    if any(spec.uses_bus for spec in topology.values()):
        faults.append(Fault("kill-bus", BUS))
        if bus_nodes >= CLUSTER_NODES:
            faults += [
                Fault(kind, role) for kind in ("kill-bus-node", "freeze-bus-node") for role in ROLES
            ]
    return faults


def check_target(target: str) -> str:
    """A restore target: a service name, "bus" or "all"."""
    target = target.strip()
    if target not in (*SERVICES, BUS, ALL):
        raise FaultError(
            f"unknown restore target {target!r}: choose a service ({', '.join(SERVICES)}), "
            f"{BUS} or {ALL}"
        )
    return target


@dataclass
class FaultRecord:
    """One injected fault: when (epoch seconds), what exactly happened, and its restore."""

    fault: Fault
    injected_at: float
    detail: str  # e.g. "postmaster pid 1234 SIGKILLed"
    pids: tuple[int, ...] = ()  # the processes signalled
    restored_at: float | None = None
    restore_detail: str = ""
    bus: BusFailover | None = None  # a bus-node fault: the node, and the election after it

    @property
    def active(self) -> bool:
        return self.restored_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault": str(self.fault),
            "kind": self.fault.kind,
            "target": self.fault.target,
            "injected_at": self.injected_at,
            "detail": self.detail,
            "pids": list(self.pids),
            "restored_at": self.restored_at,
            "restore_detail": self.restore_detail,
            **({"bus": self.bus.to_dict()} if self.bus is not None else {}),
        }


@dataclass
class RestoreResult:
    """What restore(target) did: the records it closed (empty: nothing was faulted)."""

    target: str
    restored: list[FaultRecord] = field(default_factory=list)
    message: str = ""

    @property
    def restored_at(self) -> float | None:
        times = [r.restored_at for r in self.restored if r.restored_at is not None]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "restored": [str(r.fault) for r in self.restored],
            "restored_at": self.restored_at,
            "records": [r.to_dict() for r in self.restored],
            "message": self.message,
        }


class FaultController:
    """Injects faults into one Stack and restores them; the one record of what is active.

    Process-starting work runs on a thread that outlives the call (Stack.as_owner), so this may
    be called from any thread, e.g. an HTTP server's request threads.
    """

    def __init__(self, stack: StackOperations) -> None:
        self.stack = stack
        self._records: list[FaultRecord] = []
        self._records_lock = threading.Lock()
        self._watches: list[FailoverWatch] = []

    # -- queries ----------------------------------------------------------------------------
    @property
    def impl(self) -> str:
        return self.stack.config.impl

    @property
    def bus_nodes(self) -> int:
        return self.stack.config.options.bus_nodes

    def catalogue(self) -> list[Fault]:
        return catalogue(self.impl, self.bus_nodes)

    def active(self) -> list[FaultRecord]:
        with self._records_lock:
            return [r for r in self._records if r.active]

    def history(self) -> list[FaultRecord]:
        """Every fault injected into this stack, active or restored, oldest first."""
        with self._records_lock:
            return list(self._records)

    def forget(self) -> None:
        """Drop every record (the stack stopped: nothing is faulted any more)."""
        with self._records_lock:
            self._records.clear()
            watches, self._watches = self._watches, []
        for watch in watches:
            watch.stop()

    # -- inject -----------------------------------------------------------------------------
    def inject(self, fault: Fault | str) -> FaultRecord:
        """Inject `fault` (a Fault or its text). FaultError: does not apply to this stack;
        FaultConflict: its part is already faulted or not running; StackNotRunning."""
        if isinstance(fault, str):
            fault = Fault.parse(fault, self.impl, self.bus_nodes)
        else:
            fault.check(self.impl, self.bus_nodes)
        chosen = fault
        return self.stack.as_owner(lambda: self._inject(chosen))

    def _inject(self, fault: Fault) -> FaultRecord:
        stack = self.stack
        with stack.lock:
            if not stack.running:
                raise StackNotRunning("the stack is not running")
            for record in self.active():
                if record.fault.part == fault.part:
                    raise FaultConflict(
                        f"{fault.part} already has an active fault ({record.fault}): "
                        f"restore {fault.target} first"
                    )
            if fault.scope == "bus-node":
                record = self._act_on_bus_node(fault)
            else:
                detail, pids = self._act(fault)
                record = FaultRecord(fault, time.time(), detail, tuple(pids))
            with self._records_lock:
                self._records.append(record)
            stack.write_stack_file()
            return record

    def _act_on_bus_node(self, fault: Fault) -> FaultRecord:
        """Kill or freeze the node that has `fault.target`'s role for the event stream now,
        and watch, from the other nodes, for the stream and its consumers to be led again."""
        stack = self.stack
        assert stack.bus is not None  # checked: the implementation has a bus
        try:
            node, leader = pick_node(
                stack.bus, "leader" if fault.target == "leader" else "follower"
            )
        except ValueError as error:
            raise FaultConflict(str(error)) from None
        consumers = consumers_of(stack.bus)
        if fault.kind == "kill-bus-node":
            pids = [stack.kill_bus_node(node)]
            done = "SIGKILLed"
        else:
            pids = stack.freeze_bus_node(node)
            done = "SIGSTOPped"
        injected_at = time.time()
        role: Role = "leader" if node == leader else "follower"
        failover = BusFailover(
            node, role, EVENT_STREAM, leader, injected_at, consumers=len(consumers)
        )
        watch = FailoverWatch(stack.bus, failover, consumers).start()
        with self._records_lock:
            self._watches.append(watch)
        detail = f"nats-server {node} ({failover.what}) pid {pids[0]} {done}"
        return FaultRecord(fault, injected_at, detail, tuple(pids), bus=failover)

    def _act(self, fault: Fault) -> tuple[str, list[int]]:
        stack, target = self.stack, fault.target
        if fault.kind == "kill-db":
            pid = stack.kill_database(target)
            return f"postmaster pid {pid} SIGKILLed", [pid]
        if fault.kind == "freeze-db":
            pids = stack.freeze_database(target)
            return (
                f"postmaster pid {pids[0]} and {len(pids) - 1} children SIGSTOPped",
                pids,
            )
        if fault.kind == "kill":
            killed = stack.kill_service(target)
            return ", ".join(f"{n} pid {p}" for n, p in killed) + " SIGKILLed", [
                p for _, p in killed
            ]
        if fault.kind == "freeze":
            frozen = stack.freeze_service(target)
            pids = [p for _, tree in frozen for p in tree]
            return ", ".join(f"{n} pid {tree[0]}" for n, tree in frozen) + " SIGSTOPped", pids
        if fault.kind == "kill-bus":
            pids = stack.kill_bus()
            return f"nats-server pid(s) {', '.join(map(str, pids))} SIGKILLed", pids
        raise FaultError(f"unknown fault kind {fault.kind!r}")  # pragma: no cover

    # -- restore ----------------------------------------------------------------------------
    def restore(self, target: str) -> RestoreResult:
        """Undo every active fault on `target` (a service: its database and its replicas;
        "bus"; "all"). Nothing active there: a no-op whose message says so."""
        target = check_target(target)
        return self.stack.as_owner(lambda: self._restore(target))

    def _restore(self, target: str) -> RestoreResult:
        stack = self.stack
        with stack.lock:
            if target == BUS and stack.bus is None and stack.running:
                return RestoreResult(
                    target,
                    message=f"the {self.impl} implementation has no bus: nothing to restore",
                )
            chosen = [r for r in self.active() if target in (ALL, r.fault.component)]
            if not chosen:
                where = "" if target == ALL else f" on {target}"
                return RestoreResult(target, message=f"nothing to restore: no active fault{where}")
            if not stack.running:
                raise StackNotRunning("the stack is not running")
            order = start_order(self.impl)
            chosen.sort(
                key=lambda r: (
                    _SCOPE_ORDER[r.fault.scope],
                    order.index(r.fault.target) if r.fault.target in order else 0,
                )
            )
            result = RestoreResult(target)
            try:
                for record in chosen:
                    record.restore_detail = self._undo(record)
                    record.restored_at = time.time()
                    if record.bus is not None:
                        record.bus.node_back = True
                    result.restored.append(record)
            finally:
                stack.write_stack_file()
            result.message = "restored " + ", ".join(str(r.fault) for r in result.restored)
            return result

    def _undo(self, record: FaultRecord) -> str:
        stack, fault = self.stack, record.fault
        if fault.kind == "kill-db":
            started = time.monotonic()
            stack.restart_database(fault.target)
            db = stack.databases[fault.target]
            return (
                f"PostgreSQL for {fault.target} running again on {db.host}:{db.port}, "
                f"postmaster pid {db.pid}, after {time.monotonic() - started:.1f} s"
            )
        if fault.kind in ("freeze-db", "freeze", "freeze-bus-node"):
            thawed = stack.thaw(list(record.pids))
            return f"{len(thawed)} process(es) SIGCONTed"
        if fault.kind == "kill":
            stack.restart_replicas(fault.target)
            return ", ".join(
                f"{p.name} serving again on {p.address}, pid {p.process.pid}"
                for p in stack.services[fault.target]
            )
        if fault.kind == "kill-bus":
            led = stack.restart_bus()
            assert stack.bus is not None
            running = ", ".join(f"{n.url} (pid {n.pid})" for n in stack.bus.nodes)
            if not stack.bus.clustered:
                return f"nats-server running again on {running}"
            return f"nats-servers running again on {running}; {EVENT_STREAM} led after {led:.2f} s"
        if fault.kind == "kill-bus-node":
            assert record.bus is not None and stack.bus is not None
            healthy_after = stack.restart_bus_node(record.bus.node)
            node = stack.bus.node(record.bus.node)
            return (
                f"nats-server {node.name} running again on {node.url}, pid {node.pid}, "
                f"current with the cluster after {healthy_after:.2f} s"
            )
        raise FaultError(f"unknown fault kind {fault.kind!r}")  # pragma: no cover
