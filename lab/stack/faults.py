"""Real faults on a running stack, each with its restore, addressed by component name.

What a fault is (its kinds, text, doses and what it applies to) is lab.stack.fault_kinds; its
names are exported here too. `FaultController` (every `Stack` has one: `lab.stack.faults`)
injects them, remembers which are active and restores them by component (`restore("comments")`,
`"bus"`, `"all"`), recording wall-clock epoch times (time.time()) of both and the CPU time each
component spent while the fault held; a bus-node fault's record also names the node and, as the
servers see it, how long the stream was without a leader (lab.stack.bus_failover). The control
API (stack.control) serves it over HTTP.

What each fault does to the processes and links is the Stack's (stack.operations); what it
means is in fault_kinds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lab.stack.bus_failover import BusFailover, FailoverWatch, Role, consumers_of, pick_node
from lab.stack.bus_view import EVENT_STREAM
from lab.stack.errors import FaultConflict, StackNotRunning
from lab.stack.fault_kinds import (
    ALL,
    BUS_SCOPES,
    CLUSTER_NODES,
    KINDS,
    Fault,
    FaultError,
    KindInfo,
    applies,
    catalogue,
    check_target,
    parse_fault,
    split_faults,
)
from lab.stack.links import BUS
from lab.stack.operations import StackOperations
from lab.stack.topology import start_order
from lab.stack.toxics import Behaviour

__all__ = [
    "ALL",
    "BUS",
    "BUS_SCOPES",
    "CLUSTER_NODES",
    "KINDS",
    "Fault",
    "FaultConflict",
    "FaultController",
    "FaultError",
    "FaultRecord",
    "KindInfo",
    "RestoreResult",
    "applies",
    "behaviour_of",
    "catalogue",
    "check_target",
    "parse_fault",
    "split_faults",
]

# Restore order: the links (gray faults, as injected), then what others need (databases, the
# bus), then services, callees first.
_SCOPE_ORDER = {"database": 0, "bus": 1, "bus-node": 1, "service": 2}


def behaviour_of(fault: Fault) -> Behaviour | None:
    """What a gray fault makes its links do (None: packet-loss, which is nftables' work)."""
    if fault.kind in ("slow-db", "slow", "slow-bus"):
        return Behaviour.slow(fault.dose)
    if fault.kind == "partition":
        return Behaviour(hold=True)
    if fault.kind == "partition-reset":
        return Behaviour(refuse=True)
    if fault.kind == "lossy":
        return Behaviour(reset_share=fault.dose / 100)
    return None


@dataclass
class FaultRecord:
    """One injected fault: when (epoch seconds), what exactly happened, and its restore."""

    fault: Fault
    injected_at: float
    detail: str  # e.g. "postmaster pid 1234 SIGKILLed"
    pids: tuple[int, ...] = ()  # the processes signalled
    restored_at: float | None = None
    restore_detail: str = ""
    # CPU seconds each component of the stack spent while the fault held (from the restore on):
    # what a gray fault costs the parts that wait on it (docs/METHOD.md, Gray faults).
    cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_at_inject: dict[str, float] = field(default_factory=dict, repr=False)
    bus: BusFailover | None = None  # a bus-node fault: the node, and the election after it

    @property
    def active(self) -> bool:
        return self.restored_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault": str(self.fault),
            "kind": self.fault.kind,
            "target": self.fault.target,
            "peer": self.fault.peer,
            "dose": self.fault.dose if self.fault.info.unit else None,
            "unit": self.fault.info.unit,
            "injected_at": self.injected_at,
            "detail": self.detail,
            "pids": list(self.pids),
            "restored_at": self.restored_at,
            "restore_detail": self.restore_detail,
            "cpu_s": self.cpu_s,
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
            links = fault.pairs(self.impl)
            for record in self.active():
                if record.fault.part == fault.part or record.fault.pairs(self.impl) & links:
                    raise FaultConflict(
                        f"{fault.part} already has an active fault ({record.fault}): "
                        f"restore {record.fault.restore_target} first"
                    )
            cpu_before = stack.cpu_seconds()
            if fault.scope == "bus-node":
                record = self._act_on_bus_node(fault)
                record.cpu_at_inject = cpu_before
            else:
                detail, pids = self._act(fault)
                record = FaultRecord(
                    fault, time.time(), detail, tuple(pids), cpu_at_inject=cpu_before
                )
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
        if fault.proxied:
            pairs = fault.pairs(self.impl)
            behaviour = behaviour_of(fault)
            if behaviour is None:
                return stack.drop_packets(pairs, fault.dose), []
            return stack.disturb_links(pairs, behaviour), []
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
            chosen = [r for r in self.active() if target == ALL or target in r.fault.touches]
            if not chosen:
                where = "" if target == ALL else f" on {target}"
                return RestoreResult(target, message=f"nothing to restore: no active fault{where}")
            if not stack.running:
                raise StackNotRunning("the stack is not running")
            order = start_order(self.impl)
            chosen.sort(
                key=lambda r: (
                    (0, 0, 0)
                    if r.fault.proxied
                    else (
                        1,
                        _SCOPE_ORDER[r.fault.scope],
                        order.index(r.fault.target) if r.fault.target in order else 0,
                    )
                )
            )
            result = RestoreResult(target)
            try:
                for record in chosen:
                    record.restore_detail = self._undo(record)
                    record.restored_at = time.time()
                    if record.bus is not None:
                        record.bus.node_back = True
                    cpu = stack.cpu_seconds()
                    record.cpu_s = {
                        name: round(max(0.0, cpu[name] - before), 3)
                        for name, before in record.cpu_at_inject.items()
                        if name in cpu
                    }
                    result.restored.append(record)
            finally:
                stack.write_stack_file()
            result.message = "restored " + ", ".join(str(r.fault) for r in result.restored)
            return result

    def _undo(self, record: FaultRecord) -> str:
        stack, fault = self.stack, record.fault
        if fault.proxied:
            pairs = fault.pairs(self.impl)
            if behaviour_of(fault) is None:
                return stack.stop_dropping(pairs)
            return stack.heal_links(pairs)
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
