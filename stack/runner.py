"""The local runner: starts a whole stack as processes (databases, bus, services), stops all of it.

`stack.topology` declares what an implementation is made of; `Stack` turns it into processes, in
dependency order, and is their one owner.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stack.faults import FaultConflict, FaultController, StackNotRunning
from stack.nats_server import NatsServer
from stack.postgres import PostgresServer
from stack.processes import ManagedProcess
from stack.stackfile import ControlInfo, StackInfo, write_stack_file
from stack.topology import SERVICES, TOPOLOGY, start_order

T = TypeVar("T")


class StackError(RuntimeError):
    """The stack could not start; the message names the part and its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class StackConfig:
    impl: str
    data_dir: Path
    replicas: dict[str, int] = field(default_factory=dict)
    blocklist: str | None = None
    moderation_delay_ms: float = 0.0
    call_timeout_ms: int | None = None
    fresh: bool = False  # wipe data_dir's databases first

    def replica_count(self, service: str) -> int:
        return max(1, self.replicas.get(service, 1))


@dataclass
class ServiceProcess:
    service: str
    index: int
    process: ManagedProcess
    ready_file: Path
    address: str = ""

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


class _OwnerThread:
    """A long-lived thread that runs process-starting work for callers on other threads.

    Every child gets its parent-death signal (stack.orphan_guard) from the kernel when the
    *thread* that started it ends, not the process: a child started from a short-lived thread
    (an HTTP request's, a chaos tool's background activity) would be SIGKILLed as soon as that
    thread returned. Work handed to this thread runs one call at a time, in order.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def call(self, work: Callable[[], T]) -> T:
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
        future: Future[object] = Future()
        self._queue.put((work, future))
        return future.result()  # type: ignore[return-value]

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            work, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as error:  # handed to the caller
                    future.set_exception(error)

    def close(self) -> None:
        """End the thread (only once nothing it started runs any more)."""
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            if thread is not threading.current_thread():
                thread.join(timeout=30)


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the process first); empty when it is gone."""
    try:
        root = psutil.Process(pid)
        return [pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def freeze_tree(pid: int) -> list[int]:
    """SIGSTOP `pid`, then its descendants (again until no new one appears: a child forked just
    before the stop). Returns the stopped pids, `pid` first."""
    if not _signal(pid, signal.SIGSTOP):
        return []
    _await_stopped(pid)  # from then on it forks no new child
    frozen = [pid]
    for _ in range(5):
        new = [p for p in _tree(pid) if p not in frozen]
        if not new:
            break
        frozen += [p for p in new if _signal(p, signal.SIGSTOP)]
    return frozen


def _await_stopped(pid: int, timeout_s: float = 1.0) -> None:
    """Wait (briefly) until the kernel has acted on a SIGSTOP: signals arrive asynchronously."""
    deadline = time.monotonic() + timeout_s
    try:
        process = psutil.Process(pid)
        while process.status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.001)
    except psutil.NoSuchProcess:
        pass


def thaw_pids(pids: list[int]) -> list[int]:
    """SIGCONT each of `pids` and their current descendants, descendants first; returns the
    pids that received it."""
    everyone: list[int] = []
    for pid in pids:
        tree = _tree(pid)  # empty when gone: never signal a pid that may have been reused
        for p in [*tree[1:], *tree[:1]]:
            if p not in everyone:
                everyone.append(p)
    return [p for p in everyone if _signal(p, signal.SIGCONT)]


class Stack:
    """A running stack: a context manager, or start() then stop() (stop is idempotent).

    Faults: `stack.faults` (stack.faults.FaultController) injects and restores them with the
    primitives below (kill_database, freeze_database, kill_service, freeze_service, kill_bus,
    thaw, restart_database, restart_replicas, restart_bus). Every operation takes `lock`, so a
    loop polling exited() (lab up) and a control API (stack.control) can share the stack.
    """

    def __init__(self, config: StackConfig) -> None:
        if config.impl not in TOPOLOGY:
            raise StackError(
                f"unknown implementation {config.impl!r}; choose from {list(TOPOLOGY)}"
            )
        self.config = config
        self.topology = TOPOLOGY[config.impl]
        self.data_dir = config.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.run_dir = self.data_dir / "run"
        self.stack_file = self.data_dir / "stack.json"
        self.databases: dict[str, PostgresServer] = {}
        self.services: dict[str, list[ServiceProcess]] = {}
        self.bus: NatsServer | None = None
        self.lock = threading.RLock()
        self.running = False  # True from a successful start() until stop()
        self.control: ControlInfo | None = None  # written to stack.json when set
        self.faults = FaultController(self)
        self._owner_thread: threading.Thread | None = None
        self._operator = _OwnerThread(f"stack-{config.impl}-operator")

    # -- start ------------------------------------------------------------------------------
    def start(self, progress: bool = False) -> None:
        say = (lambda msg: print(msg, flush=True)) if progress else (lambda msg: None)
        if self.config.fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._owner_thread = threading.current_thread()
        try:
            if any(spec.uses_bus for spec in self.topology.values()):
                say("starting nats-server (JetStream) ...")
                self.bus = NatsServer(
                    self.data_dir / "nats" / "store", free_port(), free_port(), self.log_dir
                )
                self.bus.start()
            for name, spec in self.topology.items():
                if spec.owns_database:
                    say(f"starting PostgreSQL for {name} ...")
                    self._start_database(name)
            for name in start_order(self.config.impl):
                count = self.config.replica_count(name)
                say(f"starting {name} service ({count} replica{'s' if count > 1 else ''}) ...")
                self.services[name] = [self._spawn(name, i) for i in range(count)]
                for proc in self.services[name]:
                    self._await_ready(proc)
            with self.lock:
                self.running = True
                self.write_stack_file()
        except BaseException:
            self.stop()
            raise

    def _start_database(self, service: str) -> None:
        last: Exception | None = None
        for _ in range(3):  # a free port can be taken between probing and binding: try another
            server = PostgresServer(
                service, self.data_dir / "pg" / service, free_port(), self.log_dir
            )
            try:
                server.start()
                self.databases[service] = server
                return
            except Exception as error:
                server.stop()
                last = error
        raise StackError(f"PostgreSQL for {service} did not start: {last}")

    def _spawn(self, service: str, index: int, listen: str = "127.0.0.1:0") -> ServiceProcess:
        spec = self.topology[service]
        ready_file = self.run_dir / f"{service}-{index}.addr"
        ready_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if spec.owns_database:
            env["LAB_DSN"] = self.databases[service].database.dsn  # not argv: ps shows argv
        if spec.uses_bus:
            assert self.bus is not None
            env["LAB_NATS_URL"] = self.bus.url
        for peer in spec.peers:
            env[f"LAB_{peer.upper()}_ADDR"] = ",".join(p.address for p in self.services[peer])
        if self.config.blocklist is not None:
            env["LAB_BLOCKLIST"] = self.config.blocklist
        env["LAB_MODERATION_DELAY_MS"] = str(self.config.moderation_delay_ms)
        if self.config.call_timeout_ms is not None:
            env["LAB_CALL_TIMEOUT_MS"] = str(self.config.call_timeout_ms)
        args = [
            sys.executable,
            "-m",
            spec.module,
            "--listen",
            listen,
            "--ready-file",
            str(ready_file),
        ]
        log = self.log_dir / f"{service}-{index}.log"
        return ServiceProcess(
            service,
            index,
            ManagedProcess.start(f"{service}-{index}", args, log, env=env),
            ready_file,
        )

    def _await_ready(self, proc: ServiceProcess, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not proc.ready_file.exists():
            if not proc.process.alive():
                raise StackError(
                    f"{proc.name} exited with code {proc.process.returncode} before serving; "
                    f"log {proc.process.log_path}:\n{proc.process.tail_log()}"
                )
            if time.monotonic() > deadline:
                raise StackError(f"{proc.name} not serving after {timeout_s:.0f}s; see its log")
            time.sleep(0.05)
        proc.address = proc.ready_file.read_text().strip()
        wait_healthy(proc.address, timeout_s=max(1.0, deadline - time.monotonic()))

    def describe(self) -> StackInfo:
        """The stack.json document."""
        described: StackInfo = {
            "impl": self.config.impl,
            "services": {
                name: [p.address for p in self.services.get(name, [])] for name in SERVICES
            },
            "databases": {
                name: {"pid": db.pid, "dsn": db.database.dsn, "log": str(db.log_path)}
                for name, db in self.databases.items()
            },
            "processes": {
                p.name: {"pid": p.process.pid, "log": str(p.process.log_path)}
                for procs in self.services.values()
                for p in procs
            },
            "runner_pid": os.getpid(),
        }
        if self.bus is not None:
            described["bus"] = {
                "url": self.bus.url,
                "pid": self.bus.pid,
                "monitor": self.bus.monitor_url,
                "log": str(self.bus.log_path),
            }
        if self.control is not None:
            described["control"] = self.control
        return described

    def write_stack_file(self) -> None:
        """(Re)write stack.json from what runs now; only while the stack is running."""
        with self.lock:
            if self.running:
                write_stack_file(self.stack_file, self.describe())

    _write_stack_file = write_stack_file  # the name earlier callers use

    def attach_control(self, control: ControlInfo | None) -> None:
        """Publish (or, with None, withdraw) a control API's address and token in stack.json."""
        with self.lock:
            self.control = control
            self.write_stack_file()

    def as_owner(self, work: Callable[[], T]) -> T:
        """Run `work` on a thread that outlives it when called from a thread other than the
        one that started the stack (see _OwnerThread: children die with their parent thread)."""
        here = threading.current_thread()
        if here is self._owner_thread or here is self._operator.thread:
            return work()
        return self._operator.call(work)

    def _require_running(self) -> None:
        if not self.running:
            raise StackNotRunning("the stack is not running")

    # -- operate: faults and restarts ------------------------------------------------------
    # Each takes the lock; those that start processes run via as_owner (see _OwnerThread).
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

    def kill_bus(self) -> int:
        """SIGKILL nats-server; returns its pid."""
        with self.lock:
            self._require_running()
            if self.bus is None:
                raise FaultConflict(f"the {self.config.impl} stack has no bus")
            pid = self.bus.pid
            if pid is None or self.bus.process is None:
                raise FaultConflict("nats-server is not running: nothing to kill")
            self.bus.process.kill()
            return pid

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
                new = self._spawn(service, index, listen=old.address)
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

    def restart_bus(self) -> None:
        """Start a (killed or stopped) nats-server again on the same ports and store."""
        self.as_owner(self._restart_bus)

    def _restart_bus(self) -> None:
        with self.lock:
            self._require_running()
            assert self.bus is not None
            if self.bus.pid is not None:
                thaw_pids([self.bus.pid])
            self.bus.stop()
            self.bus.start()
            self.write_stack_file()

    def exited(self) -> list[str]:
        """Names of parts that are no longer running (crashed, or killed by an experiment)."""
        with self.lock:
            return self._exited()

    def _exited(self) -> list[str]:
        gone = [
            f"database {name} (code {db.process.returncode})"
            for name, db in self.databases.items()
            if db.process and not db.process.alive()
        ]
        gone += [
            f"service {p.name} (code {p.process.returncode})"
            for procs in self.services.values()
            for p in procs
            if not p.process.alive()
        ]
        if self.bus and self.bus.process and not self.bus.process.alive():
            gone.append(f"bus nats-server (code {self.bus.process.returncode})")
        return gone

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop services (SIGTERM, dependents first), then databases; never leaves a process.
        Frozen processes are thawed first, so that each can act on its stop signal."""
        with self.lock:
            self.running = False
            thaw_pids(self._pids())
            for name in reversed(start_order(self.config.impl)):
                for proc in self.services.pop(name, []):
                    proc.process.stop("SIGTERM", timeout_s=10)
                    proc.ready_file.unlink(missing_ok=True)
            for server in self.databases.values():
                server.stop()
            self.databases.clear()
            if self.bus is not None:
                self.bus.stop()
                self.bus = None
            self.stack_file.unlink(missing_ok=True)
            self.faults.forget()
        self._operator.close()  # after everything it may have started has stopped

    def _pids(self) -> list[int]:
        pids = [p.process.pid for ps in self.services.values() for p in ps if p.process.alive()]
        pids += [db.pid for db in self.databases.values() if db.pid is not None]
        if self.bus is not None and self.bus.pid is not None:
            pids.append(self.bus.pid)
        return pids

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_healthy(address: str, timeout_s: float = 10.0, service: str = "") -> None:
    """Block until the gRPC health service at `address` answers SERVING."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"{address} not healthy after {timeout_s:.0f}s")
            time.sleep(0.05)
