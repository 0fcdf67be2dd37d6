"""A real Prometheus server beside a stack (`--prometheus`): Debian's `prometheus` package, a
generated configuration that scrapes every process of the stack every second, the lab's
recording rules, on loopback, its data in a home outside results/ (docs/METHOD.md, Watching a
run live).

Binary: LAB_PROMETHEUS, else `prometheus` on PATH (Debian: `apt-get install -y prometheus`).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lab.stack.errors import StackError
from lab.stack.processes import ManagedProcess
from lab.stack.prometheus_rules import rules_document

INSTALL_HINT = "apt-get install -y prometheus"
SCRAPE_INTERVAL = "1s"
# Prometheus's own default port and up: below the kernel's ephemeral range (32768-60999 here),
# so no port-0 bind of another process (a database, a service of a later stack) can take it
# between the moment a command picks it and the moment a later stack's Prometheus binds it.
PORTS = range(9090, 9190)


class PrometheusMissing(StackError):
    """--prometheus was asked for on a machine without the prometheus binary."""


def find_prometheus() -> Path:
    """The prometheus binary, or PrometheusMissing whose message says how to get it."""
    override = os.environ.get("LAB_PROMETHEUS")
    candidates = [override] if override else [shutil.which("prometheus"), "/usr/bin/prometheus"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PrometheusMissing(
        "--prometheus: no prometheus binary found; install Debian's package "
        f"(`{INSTALL_HINT}`) or set LAB_PROMETHEUS to one"
    )


def free_port() -> int:
    """The first free port of PORTS on 127.0.0.1."""
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise StackError(f"no free port for prometheus in {PORTS.start}-{PORTS.stop - 1}")


@dataclass(frozen=True)
class ScrapeTarget:
    """One process to scrape: its job (the service, or `nats` for the bus exporter), its
    /metrics address and the labels its series get."""

    job: str
    address: str  # host:port
    labels: dict[str, str] = field(default_factory=dict)


def scrape_config(targets: list[ScrapeTarget], rules_file: Path) -> str:
    """prometheus.yml (in YAML's JSON subset): every target scraped each second, by job."""
    jobs: dict[str, list[ScrapeTarget]] = {}
    for target in targets:
        jobs.setdefault(target.job, []).append(target)
    document = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "rule_files": [str(rules_file)],
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [
                    {"targets": [t.address], "labels": t.labels} for t in job_targets
                ],
            }
            for job, job_targets in jobs.items()
        ],
    }
    return "# written by lab (lab/stack/prometheus.py)\n" + json.dumps(document, indent=2) + "\n"


class PrometheusServer:
    """One prometheus process: its configuration, rules and data under `home`."""

    def __init__(self, home: Path, port: int, log_dir: Path) -> None:
        self.binary = find_prometheus()
        self.home = home
        self.port = port
        self.log_path = log_dir / "prometheus.log"
        self.config_path = home / "prometheus.yml"
        self.rules_path = home / "rules.yml"
        self.data_dir = home / "data"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive() else None

    def start(self, targets: list[ScrapeTarget], timeout_s: float = 30.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.rules_path.write_text(rules_document())
        self.config_path.write_text(scrape_config(targets, self.rules_path))
        args = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process = ManagedProcess.start("prometheus", args, self.log_path)
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if not self.process.alive():
                raise StackError(
                    f"prometheus exited with {self.process.returncode}; log {self.log_path}:\n"
                    f"{self.process.tail_log()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(
                    f"prometheus not ready after {timeout_s:.0f}s; log {self.log_path}"
                )
            time.sleep(0.1)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            return False  # not up yet, or (a port taken after all) not Prometheus

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: Prometheus writes its head block out and exits."""
        if self.process:
            self.process.stop("SIGTERM", timeout_s=timeout_s)
