"""The local runner: starts a whole stack as processes (databases, bus, services), stops all of it.

`lab.stack.topology` declares what an implementation is made of; `Stack` turns it into processes, in
dependency order, and is their one owner. What is done to them during faults (kill, freeze, thaw,
restart) is in stack.operations.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.stack.bus_cluster import NatsCluster
from lab.stack.config import StackConfig, StackOptions
from lab.stack.errors import StackError
from lab.stack.faults import FaultController
from lab.stack.freezing import thaw_pids
from lab.stack.net import free_port, wait_healthy
from lab.stack.operations import StackOperations
from lab.stack.owner_thread import OwnerThread
from lab.stack.postgres import PostgresServer
from lab.stack.processes import ManagedProcess, ServiceProcess
from lab.stack.stackfile import ControlInfo, StackInfo, write_stack_file
from lab.stack.topology import SERVICES, TOPOLOGY, start_order


class Stack(StackOperations):
    """A running stack: a context manager, or start() then stop() (stop is idempotent).

    Faults: `lab.stack.faults` (stack.faults.FaultController) injects and restores them with the
    primitives of stack.operations (kill_database, freeze_database, kill_service,
    freeze_service, kill_bus, kill_bus_node, freeze_bus_node, thaw, restart_database,
    restart_replicas, restart_bus, restart_bus_node). Every
    operation takes `lock`, so a loop polling exited() (lab up) and a control API
    (stack.control) can share the stack.
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
        self.bus: NatsCluster | None = None
        self.lock = threading.RLock()
        self.running = False  # True from a successful start() until stop()
        self.control: ControlInfo | None = None  # written to stack.json when set
        self.faults = FaultController(self)
        self._owner_thread: threading.Thread | None = None
        self._operator = OwnerThread(f"stack-{config.impl}-operator")

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
                nodes = self.config.options.bus_nodes
                say(
                    "starting nats-server (JetStream) ..."
                    if nodes == 1
                    else f"starting {nodes} nats-servers as one JetStream cluster ..."
                )
                self.bus = NatsCluster(self.data_dir / "nats", self.log_dir, nodes)
                self.bus.start()
            for name, spec in self.topology.items():
                if spec.owns_database:
                    say(f"starting PostgreSQL for {name} ...")
                    self._start_database(name)
            for name in start_order(self.config.impl):
                count = self.config.options.replica_count(name)
                say(f"starting {name} service ({count} replica{'s' if count > 1 else ''}) ...")
                self.services[name] = [self._spawn(name, i) for i in range(count)]
                for proc in self.services[name]:
                    self._await_ready(proc)
            if self.bus is not None and self.bus.clustered:
                replicas = self.config.options.stream_replica_count()
                say(f"waiting until every stream and consumer is R{replicas}, replicas current ...")
                self.bus.await_replicated(replicas)
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
            env["LAB_NATS_URL"] = ",".join(self.bus.urls)  # every node: failover, no restart
        for peer in spec.peers:
            env[f"LAB_{peer.upper()}_ADDR"] = ",".join(p.address for p in self.services[peer])
        env.update(spec.env)  # what makes this variant (e.g. sync-resilient's patterns)
        env.update(self.config.options.service_env())
        if self.config.options.trace_sample:
            env["LAB_TRACE_DIR"] = str(self.trace_dir)
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

    @property
    def trace_dir(self) -> Path:
        """Where the services write their traces (one OTLP JSON file per process), if traced."""
        return (self.config.options.trace_dir or self.data_dir / "traces").resolve()

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
            first = self.bus.nodes[0]
            described["bus"] = {
                "url": first.url,
                "pid": first.pid,
                "monitor": first.monitor_url,
                "log": str(first.log_path),
                "nodes": [
                    {
                        "name": n.name,
                        "url": n.url,
                        "pid": n.pid,
                        "monitor": n.monitor_url,
                        "log": str(n.log_path),
                    }
                    for n in self.bus.nodes
                ],
                "stream_replicas": self.config.options.stream_replica_count(),
            }
        if self.control is not None:
            described["control"] = self.control
        return described

    def write_stack_file(self) -> None:
        """(Re)write stack.json from what runs now; only while the stack is running."""
        with self.lock:
            if self.running:
                write_stack_file(self.stack_file, self.describe())

    def attach_control(self, control: ControlInfo | None) -> None:
        """Publish (or, with None, withdraw) a control API's address and token in stack.json."""
        with self.lock:
            self.control = control
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
        if self.bus is not None:
            gone += [
                f"bus nats-server {node.name} (code {node.process.returncode})"
                for node in self.bus.exited()
                if node.process is not None
            ]
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
        if self.bus is not None:
            pids += self.bus.pids()
        return pids

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def fresh_stack(
    impl: str,
    options: StackOptions | None = None,
    *,
    keep_data: bool = False,
    say: Callable[[str], None] | None = None,
) -> Iterator[Stack]:
    """A new stack of `impl` on a temporary data directory, started; stopped and its data
    removed afterwards (kept with `keep_data`, and `say` tells where). The one way the bench,
    the chaos experiments and the comparisons get a stack: databases and logs live outside
    results/, so a run directory holds measurements only (docs/METHOD.md, Results and report)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"lab-{impl}-"))
    stack = Stack(StackConfig(impl, data_dir, options or StackOptions(), fresh=True))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if keep_data:
            if say is not None:
                say(f"[{impl}] data and logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
