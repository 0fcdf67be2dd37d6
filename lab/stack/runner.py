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
from lab.stack.bus_exporter import BusExporter
from lab.stack.config import StackConfig, StackOptions
from lab.stack.errors import StackError
from lab.stack.faults import FaultController
from lab.stack.freezing import thaw_pids
from lab.stack.links import BUS, CLIENTS, LinkPair, db_part
from lab.stack.net import free_port, wait_healthy
from lab.stack.operations import StackOperations
from lab.stack.owner_thread import OwnerThread
from lab.stack.packetloss import PacketLoss
from lab.stack.postgres import PostgresServer
from lab.stack.processes import ManagedProcess, ServiceProcess
from lab.stack.prometheus import PrometheusServer, ScrapeTarget, find_prometheus
from lab.stack.prometheus import free_port as free_prometheus_port
from lab.stack.proxies import FaultProxies
from lab.stack.stackfile import ControlInfo, ProcessInfo, StackInfo, write_stack_file
from lab.stack.topology import SERVICES, TOPOLOGY, ServiceSpec, start_order


class Stack(StackOperations):
    """A running stack: a context manager, or start() then stop() (stop is idempotent).

    Faults: `lab.stack.faults` (stack.faults.FaultController) injects and restores them with the
    primitives of stack.operations (kill_database, freeze_database, kill_service,
    freeze_service, kill_bus, kill_bus_node, freeze_bus_node, thaw, restart_database,
    restart_replicas, restart_bus, restart_bus_node) and, with `StackOptions.fault_proxies`, the
    links of its fault proxy (disturb_links, heal_links, drop_packets, stop_dropping): every
    service then reaches its database, its peers and the bus (each node of a cluster) through a
    link of its own, and the clients reach every replica through one too (lab.stack.proxies).
    Every operation takes `lock`, so a loop polling exited() (lab up) and a control API
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
        self.proxies: FaultProxies | None = None  # with StackOptions.fault_proxies
        self.packet_loss: PacketLoss | None = None
        self.bus_exporter: BusExporter | None = None  # the bus's /metrics
        self.prometheus: PrometheusServer | None = None
        self.lock = threading.RLock()
        self.running = False  # True from a successful start() until stop()
        self.control: ControlInfo | None = None  # written to stack.json when set
        self.faults = FaultController(self)
        self._owner_thread: threading.Thread | None = None
        self._operator = OwnerThread(f"stack-{config.impl}-operator")

    # -- start ------------------------------------------------------------------------------
    def start(self, progress: bool = False) -> None:
        say = (lambda msg: print(msg, flush=True)) if progress else (lambda msg: None)
        if self.config.options.prometheus is not None:
            find_prometheus()  # before anything starts: one line saying how to install it
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
                if self.config.options.metrics:
                    # The first node's /jsz: on a cluster, its view of the replicated streams.
                    self.bus_exporter = BusExporter(
                        self.bus.nodes[0].monitor_url, self.run_dir, self.log_dir
                    )
                    self.bus_exporter.start()
            for name, spec in self.topology.items():
                if spec.owns_database:
                    say(f"starting PostgreSQL for {name} ...")
                    self._start_database(name)
            if self.config.options.fault_proxies:
                say("starting the fault proxy ...")
                self.proxies = FaultProxies(self.run_dir, self.log_dir)
                self.proxies.start()
                self.packet_loss = PacketLoss(self.log_dir / "nft.log")
            for name in start_order(self.config.impl):
                count = self.config.options.replica_count(name)
                say(f"starting {name} service ({count} replica{'s' if count > 1 else ''}) ...")
                self.services[name] = [self._spawn(name, i) for i in range(count)]
                for proc in self.services[name]:
                    self._await_ready(proc)
                    self._client_address(proc)  # with fault proxies: its link for clients
            if self.bus is not None and self.bus.clustered:
                replicas = self.config.options.stream_replica_count()
                say(f"waiting until every stream and consumer is R{replicas}, replicas current ...")
                self.bus.await_replicated(replicas)
            if self.config.options.prometheus is not None:
                say("starting prometheus ...")
                self._start_prometheus()
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
                service,
                self.data_dir / "pg" / service,
                free_port(),
                self.log_dir,
                settings=self.config.options.noise.postgres_settings(),
            )
            try:
                server.start()
                self.databases[service] = server
                return
            except Exception as error:
                server.stop()
                last = error
        raise StackError(f"PostgreSQL for {service} did not start: {last}")

    def scrape_targets(self) -> list[ScrapeTarget]:
        """Every process of the stack that serves /metrics, labelled with the implementation
        and the stack (one Prometheus home may see several stacks: bench, chaos)."""
        common = {"impl": self.config.impl, "stack": self.data_dir.name}
        targets = [
            ScrapeTarget(p.service, p.metrics_address, {**common, "replica": str(p.index)})
            for procs in self.services.values()
            for p in procs
            if p.metrics_address
        ]
        if self.bus_exporter is not None:
            targets.append(ScrapeTarget("nats", self.bus_exporter.address, common))
        return targets

    def _start_prometheus(self) -> None:
        settings = self.config.options.prometheus
        assert settings is not None
        home = settings.home or self.data_dir / "prometheus"
        last: Exception | None = None
        for _ in range(3):  # a free port can be taken between probing and binding
            server = PrometheusServer(home, settings.port or free_prometheus_port(), self.log_dir)
            try:
                server.start(self.scrape_targets())
                self.prometheus = server
                return
            except StackError as error:
                server.stop()
                last = error
                if settings.port:
                    break  # the port was asked for: no other will do
        raise StackError(f"prometheus did not start: {last}")

    def _spawn(
        self, service: str, index: int, listen: str = "127.0.0.1:0", metrics_listen: str = ""
    ) -> ServiceProcess:
        spec = self.topology[service]
        ready_file = self.run_dir / f"{service}-{index}.addr"
        ready_file.unlink(missing_ok=True)
        metrics_file = self.run_dir / f"{service}-{index}.metrics"
        metrics_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self._routes(service, spec))
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
        if self.config.options.metrics:
            args += ["--metrics-listen", metrics_listen or "127.0.0.1:0"]
            args += ["--metrics-file", str(metrics_file)]
        log = self.log_dir / f"{service}-{index}.log"
        return ServiceProcess(
            service,
            index,
            ManagedProcess.start(f"{service}-{index}", args, log, env=env),
            ready_file,
            metrics_file if self.config.options.metrics else None,
        )

    def _routes(self, service: str, spec: ServiceSpec) -> dict[str, str]:
        """Where `service` finds its database, the bus and its peers (LAB_* settings; not argv:
        ps shows argv): the servers themselves, or with fault proxies its own links to them."""
        proxies, env = self.proxies, {}
        if spec.owns_database:
            dsn = self.databases[service].database.dsn
            pair = LinkPair(service, db_part(service))
            env["LAB_DSN"] = proxies.url(pair, dsn) if proxies else dsn
        if spec.uses_bus:
            assert self.bus is not None
            # Every node: failover, no restart. With fault proxies a node has its own link
            # (`posts>bus#1`); a lone server's is `posts>bus`.
            pair = LinkPair(service, BUS)
            clustered = self.bus.clustered
            env["LAB_NATS_URL"] = ",".join(
                proxies.url(pair, url, i if clustered else None) if proxies else url
                for i, url in enumerate(self.bus.urls)
            )
        for peer in spec.peers:
            pair = LinkPair(service, peer)
            env[f"LAB_{peer.upper()}_ADDR"] = ",".join(
                proxies.address(pair, p.address, p.index) if proxies else p.address
                for p in self.services[peer]
            )
        return env

    def _client_address(self, proc: ServiceProcess) -> str:
        """The address clients are given for a replica: its own, or its client link's."""
        if self.proxies is None:
            return proc.address
        return self.proxies.address(LinkPair(CLIENTS, proc.service), proc.address, proc.index)

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
        if proc.metrics_file is not None:  # written before the ready file
            proc.metrics_address = proc.metrics_file.read_text().strip()
        wait_healthy(proc.address, timeout_s=max(1.0, deadline - time.monotonic()))

    def describe(self) -> StackInfo:
        """The stack.json document."""
        described: StackInfo = {
            "impl": self.config.impl,
            "services": {
                name: [self._client_address(p) for p in self.services.get(name, [])]
                for name in SERVICES
            },
            "databases": {
                name: {"pid": db.pid, "dsn": db.database.dsn, "log": str(db.log_path)}
                for name, db in self.databases.items()
            },
            "processes": {
                p.name: self._process_info(p) for procs in self.services.values() for p in procs
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
            if self.bus_exporter is not None and self.bus_exporter.process is not None:
                described["bus"]["metrics"] = self.bus_exporter.address
                described["bus"]["exporter_pid"] = self.bus_exporter.process.pid
        if self.prometheus is not None:
            described["prometheus"] = {
                "url": self.prometheus.url,
                "pid": self.prometheus.pid,
                "home": str(self.prometheus.home),
            }
        if self.control is not None:
            described["control"] = self.control
        if self.proxies is not None:
            described["fault_proxy"] = self.proxies.describe()
        return described

    @staticmethod
    def _process_info(proc: ServiceProcess) -> ProcessInfo:
        info: ProcessInfo = {"pid": proc.process.pid, "log": str(proc.process.log_path)}
        if proc.metrics_address:
            info["metrics"] = proc.metrics_address
        return info

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
        for name, extra in (
            ("the bus exporter", self.bus_exporter.process if self.bus_exporter else None),
            ("prometheus", self.prometheus.process if self.prometheus else None),
            ("fault proxy", self.proxies.process if self.proxies else None),
        ):
            if extra is not None and not extra.alive():
                gone.append(f"{name} (code {extra.returncode})")
        return gone

    def component_pids(self) -> dict[str, list[int]]:
        """Component -> its root pids: each service's replicas, `db:SVC` (the postmaster
        stands for its backends), `bus`, `fault-proxy`."""
        with self.lock:
            found = {
                name: [p.process.pid for p in procs if p.process.alive()]
                for name, procs in self.services.items()
            }
            for name, db in self.databases.items():
                found[db_part(name)] = [db.pid] if db.pid is not None else []
            if self.bus is not None:
                found[BUS] = self.bus.pids()  # every node
            if self.proxies is not None and self.proxies.pid is not None:
                found["fault-proxy"] = [self.proxies.pid]
            return found

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop services (SIGTERM, dependents first), then databases; never leaves a process.
        Frozen processes are thawed first, so that each can act on its stop signal."""
        with self.lock:
            self.running = False
            thaw_pids(self._pids())
            if self.prometheus is not None:
                self.prometheus.stop()
                self.prometheus = None
            for name in reversed(start_order(self.config.impl)):
                for proc in self.services.pop(name, []):
                    proc.process.stop("SIGTERM", timeout_s=10)
                    proc.ready_file.unlink(missing_ok=True)
            if self.packet_loss is not None:
                self.packet_loss.close()  # the kernel deletes its table with nft
                self.packet_loss = None
            if self.proxies is not None:
                self.proxies.stop()
                self.proxies = None
            for server in self.databases.values():
                server.stop()
            self.databases.clear()
            if self.bus_exporter is not None:
                self.bus_exporter.stop()
                self.bus_exporter = None
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
        if self.proxies is not None and self.proxies.pid is not None:
            pids.append(self.proxies.pid)
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
