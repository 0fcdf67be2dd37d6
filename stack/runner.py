"""The local runner: starts a whole stack as processes (databases, bus, services), stops all of it.

`stack.topology` declares what an implementation is made of; `Stack` turns it into processes, in
dependency order, and is their one owner.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stack.nats_server import NatsServer
from stack.postgres import PostgresServer
from stack.processes import ManagedProcess
from stack.stackfile import StackInfo, write_stack_file
from stack.topology import SERVICES, TOPOLOGY, start_order


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


class Stack:
    """A running stack: a context manager, or start() then stop() (stop is idempotent)."""

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

    # -- start ------------------------------------------------------------------------------
    def start(self, progress: bool = False) -> None:
        say = (lambda msg: print(msg, flush=True)) if progress else (lambda msg: None)
        if self.config.fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
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
            self._write_stack_file()
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
        return described

    def _write_stack_file(self) -> None:
        write_stack_file(self.stack_file, self.describe())

    # -- operate ----------------------------------------------------------------------------
    def restart_database(self, service: str) -> None:
        """Start a (killed or stopped) database server again on the same port and data."""
        server = self.databases[service]
        server.stop()
        # After a SIGKILL the old backends may still hold shared memory for a moment.
        for attempt in range(20):
            try:
                server.start()
                break
            except Exception:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        self._write_stack_file()

    def stop_service(self, service: str, index: int = 0) -> None:
        """Stop one replica gracefully (SIGTERM); restart_service brings it back."""
        self.services[service][index].process.stop("SIGTERM", timeout_s=10)

    def restart_service(self, service: str, index: int = 0) -> None:
        """Start a stopped (or killed) replica again, on the same address."""
        old = self.services[service][index]
        old.process.stop("SIGTERM", timeout_s=10)
        new = self._spawn(service, index, listen=old.address)
        self.services[service][index] = new
        self._await_ready(new)
        self._write_stack_file()

    def restart_bus(self) -> None:
        """Start a (killed or stopped) nats-server again on the same ports and store."""
        assert self.bus is not None
        self.bus.stop()
        self.bus.start()
        self._write_stack_file()

    def exited(self) -> list[str]:
        """Names of parts that are no longer running (crashed, or killed by an experiment)."""
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
        """Stop services (SIGTERM, dependents first), then databases; never leaves a process."""
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
