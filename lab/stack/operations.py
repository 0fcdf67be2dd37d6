"""Fault-time operations on a running stack's processes and links: kill, freeze and thaw its
databases, services and bus, and start them again; slow, hold, reset or drop what its fault
proxies carry, and heal them.

`StackOperations` is a mixin of `lab.stack.runner.Stack`, which owns the processes and provides
what is declared at the top of the class. `lab.stack.faults` (FaultController) injects and restores
faults with these primitives.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from lab.stack.errors import FaultConflict, StackError, StackNotRunning
from lab.stack.freezing import freeze_tree, thaw_pids
from lab.stack.usage import cpu_seconds

if TYPE_CHECKING:
    from lab.stack.bus_cluster import NatsCluster
    from lab.stack.config import StackConfig
    from lab.stack.links import LinkPair
    from lab.stack.owner_thread import OwnerThread
    from lab.stack.packetloss import PacketLoss
    from lab.stack.postgres import PostgresServer
    from lab.stack.processes import ServiceProcess
    from lab.stack.proxies import FaultProxies
    from lab.stack.toxics import Behaviour

T = TypeVar("T")


class StackOperations:
    """Kill, freeze, thaw and restart the parts of a running stack (a mixin of Stack).

    Each operation takes the lock; those that start processes run via as_owner (see
    stack.owner_thread.OwnerThread: children die with their parent thread).
    """

    if TYPE_CHECKING:  # provided by Stack (stack.runner)
        config: StackConfig
        databases: dict[str, PostgresServer]
        services: dict[str, list[ServiceProcess]]
        bus: NatsCluster | None
        proxies: FaultProxies | None
        packet_loss: PacketLoss | None
        lock: threading.RLock
        running: bool
        _owner_thread: threading.Thread | None
        _operator: OwnerThread

        def write_stack_file(self) -> None: ...

        def _spawn(
            self, service: str, index: int, listen: str = "127.0.0.1:0", metrics_listen: str = ""
        ) -> ServiceProcess: ...

        def _await_ready(self, proc: ServiceProcess, timeout_s: float = 60.0) -> None: ...

        def component_pids(self) -> dict[str, list[int]]: ...

    def as_owner(self, work: Callable[[], T]) -> T:
        """Run `work` on a thread that outlives it when called from a thread other than the
        one that started the stack (see OwnerThread: children die with their parent thread)."""
        here = threading.current_thread()
        if here is self._owner_thread or here is self._operator.thread:
            return work()
        return self._operator.call(work)

    def _require_running(self) -> None:
        if not self.running:
            raise StackNotRunning("the stack is not running")

    def kill_database(self, service: str) -> int:
        """SIGKILL the postmaster of `service`'s database; returns its pid."""
        with self.lock:
            self._require_running()
            server = self.databases[service]
            pid = server.pid
            if pid is None:
                raise FaultConflict(f"database {service} is not running: nothing to kill")
            server.kill()
            return pid

    def freeze_database(self, service: str) -> list[int]:
        """SIGSTOP the postmaster of `service`'s database and all its children (a stopped
        postmaster alone leaves open sessions working); returns their pids, postmaster first."""
        with self.lock:
            self._require_running()
            pid = self.databases[service].pid
            if pid is None:
                raise FaultConflict(f"database {service} is not running: nothing to freeze")
            return freeze_tree(pid)

    def kill_service(self, service: str) -> list[tuple[str, int]]:
        """SIGKILL every replica of `service` at once; returns (replica, pid) of each killed."""
        with self.lock:
            self._require_running()
            alive = [p for p in self.services[service] if p.process.alive()]
            if not alive:
                raise FaultConflict(f"no replica of {service} is running: nothing to kill")
            for proc in alive:
                proc.process.signal(signal.SIGKILL)
            for proc in alive:
                proc.process.kill()  # reaps it
            return [(p.name, p.process.pid) for p in alive]

    def freeze_service(self, service: str) -> list[tuple[str, list[int]]]:
        """SIGSTOP every replica of `service` (and its children); returns (replica, pids)."""
        with self.lock:
            self._require_running()
            alive = [p for p in self.services[service] if p.process.alive()]
            if not alive:
                raise FaultConflict(f"no replica of {service} is running: nothing to freeze")
            return [(p.name, freeze_tree(p.process.pid)) for p in alive]

    def _require_bus(self) -> NatsCluster:
        self._require_running()
        if self.bus is None:
            raise FaultConflict(f"the {self.config.impl} stack has no bus")
        return self.bus

    def kill_bus(self) -> list[int]:
        """SIGKILL every nats-server of the bus (at once); returns their pids."""
        with self.lock:
            bus = self._require_bus()
            pids = bus.pids()
            if not pids:
                raise FaultConflict("no nats-server is running: nothing to kill")
            for node in bus.nodes:
                if node.process is not None:
                    node.process.signal(signal.SIGKILL)
            for node in bus.nodes:
                node.kill()  # reaps it
            return pids

    def kill_bus_node(self, name: str) -> int:
        """SIGKILL one node of the bus; returns its pid."""
        with self.lock:
            node = self._require_bus().node(name)
            pid = node.pid
            if pid is None:
                raise FaultConflict(f"bus node {name} is not running: nothing to kill")
            node.kill()
            return pid

    def freeze_bus_node(self, name: str) -> list[int]:
        """SIGSTOP one node of the bus (its peers stop hearing from it); returns its pids."""
        with self.lock:
            pid = self._require_bus().node(name).pid
            if pid is None:
                raise FaultConflict(f"bus node {name} is not running: nothing to freeze")
            return freeze_tree(pid)

    def thaw(self, pids: list[int]) -> list[int]:
        """SIGCONT `pids` and their children (the undo of a freeze); returns who got it."""
        with self.lock:
            return thaw_pids(pids)

    def restart_database(self, service: str) -> None:
        """Start a (killed or stopped) database server again on the same port and data."""
        self.as_owner(lambda: self._restart_database(service))

    def _restart_database(self, service: str) -> None:
        with self.lock:
            self._require_running()
            server = self.databases[service]
            if server.pid is not None:
                thaw_pids([server.pid])  # a frozen one cannot act on its stop signal
            server.stop()
            # After a SIGKILL the old backends hold the shared memory for up to ~2 s: the new
            # postmaster refuses to start until they are gone. Retry, never leaving one behind.
            deadline = time.monotonic() + 30
            while True:
                try:
                    server.start()
                    break
                except Exception as error:
                    server.stop()
                    if time.monotonic() > deadline:
                        raise StackError(
                            f"PostgreSQL for {service} did not start again: {error}"
                        ) from error
                    time.sleep(0.25)
            self.write_stack_file()

    def stop_service(self, service: str, index: int = 0) -> None:
        """Stop one replica gracefully (SIGTERM); restart_service brings it back."""
        with self.lock:
            self.services[service][index].process.stop("SIGTERM", timeout_s=10)

    def restart_service(self, service: str, index: int = 0) -> None:
        """Start a stopped (or killed) replica again, on the same address."""
        self.as_owner(lambda: self._restart_replica(service, index))

    def restart_replicas(self, service: str) -> None:
        """Start every replica of `service` again, each on its own address."""

        def restart_each() -> None:
            with self.lock:
                for index in range(len(self.services[service])):
                    self._restart_replica(service, index)

        self.as_owner(restart_each)

    def _restart_replica(self, service: str, index: int) -> None:
        with self.lock:
            self._require_running()
            old = self.services[service][index]
            if old.process.alive():
                thaw_pids([old.process.pid])  # a frozen one cannot act on its SIGTERM
            old.process.stop("SIGTERM", timeout_s=10)
            last: Exception | None = None
            for _ in range(3):  # the address may still be held for a moment
                # The same addresses: clients and a Prometheus server keep finding it.
                new = self._spawn(
                    service, index, listen=old.address, metrics_listen=old.metrics_address
                )
                self.services[service][index] = new
                try:
                    self._await_ready(new)
                    break
                except StackError as error:
                    new.process.stop("SIGTERM", timeout_s=10)
                    last = error
                    time.sleep(0.5)
            else:
                raise StackError(f"{old.name} did not start again on {old.address}: {last}")
            self.write_stack_file()

    def restart_bus(self) -> float:
        """Start every (killed or stopped) nats-server of the bus again on the same ports and
        stores; returns the seconds until the event stream had a leader again (0: one node)."""
        return self.as_owner(self._restart_bus)

    def _restart_bus(self) -> float:
        with self.lock:
            bus = self._require_bus()
            thaw_pids(bus.pids())  # a frozen one cannot act on its stop signal
            bus.stop()
            started = time.monotonic()
            bus.start()
            bus.await_stream_leader()
            self.write_stack_file()
            return time.monotonic() - started

    def restart_bus_node(self, name: str) -> float:
        """Start one (killed) node of the bus again on its ports and store; returns the
        seconds until it was healthy: back in the cluster and current with what it holds."""
        return self.as_owner(lambda: self._restart_bus_node(name))

    def _restart_bus_node(self, name: str) -> float:
        with self.lock:
            bus = self._require_bus()
            node = bus.node(name)
            if node.pid is not None:
                thaw_pids([node.pid])
            node.stop()
            started = time.monotonic()
            bus.start_nodes([node], timeout_s=60)
            self.write_stack_file()
            return time.monotonic() - started

    # -- links (the fault proxies) ----------------------------------------------------------
    def _proxies(self) -> FaultProxies:
        self._require_running()
        if self.proxies is None:
            raise FaultConflict(
                "this stack runs without fault proxies, so its links cannot be disturbed: "
                "start it with `lab up --fault-proxies` (lab chaos always has them)"
            )
        return self.proxies

    def disturb_links(self, pairs: frozenset[LinkPair], behaviour: Behaviour) -> str:
        """Give every link of `pairs` (each replica's) `behaviour`; says what it reached."""
        with self.lock:
            names, connections = self._proxies().set(pairs, behaviour)
            return f"links {', '.join(names)} ({connections} open connection(s))"

    def heal_links(self, pairs: frozenset[LinkPair]) -> str:
        with self.lock:
            names = self._proxies().clear(pairs)
            return f"links {', '.join(names)} forward at once again"

    def drop_packets(self, pairs: frozenset[LinkPair], percent: float) -> str:
        """nftables drops `percent` % of the packets of each link of `pairs`, both ways."""
        with self.lock:
            proxies = self._proxies()
            assert self.packet_loss is not None
            ports = proxies.listen_ports(pairs)
            self.packet_loss.drop(ports, percent)
            return (
                f"nftables table {self.packet_loss.table} drops {percent:g} % of the packets "
                f"to and from port(s) {', '.join(map(str, ports))}"
            )

    def stop_dropping(self, pairs: frozenset[LinkPair]) -> str:
        with self.lock:
            proxies = self._proxies()
            assert self.packet_loss is not None
            ports = proxies.listen_ports(pairs)
            self.packet_loss.stop_dropping(ports)
            return f"no packet dropped on port(s) {', '.join(map(str, ports))} any more"

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far per component (services by name, `db:SVC`, `bus`, the proxy)."""
        with self.lock:
            return cpu_seconds(self.component_pids())
