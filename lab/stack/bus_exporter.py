"""The bus exporter: a small process serving the bus's JetStream figures (lab.stack.bus_metrics)
as Prometheus text on /metrics, until SIGTERM.

    python -m lab.stack.bus_exporter --monitor http://127.0.0.1:8222 --listen 127.0.0.1:0 \\
        --address-file run/nats-exporter.addr

A process of its own rather than a thread of the runner: it outlives a kill of the bus (and
reports it), its CPU is measured apart from everything else (a measurement tool measures
itself), and the same module runs as the compose stack's and a pod's exporter. `BusExporter` is
how the runner starts and stops it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from lab.stack.bus_metrics import JetStreamCollector
from lab.stack.errors import StackError
from lab.stack.processes import ManagedProcess


class BusExporter:
    """The exporter process of one stack's bus, on a loopback port of its own."""

    def __init__(self, monitor_url: str, run_dir: Path, log_dir: Path) -> None:
        self.monitor_url = monitor_url
        self.address_file = run_dir / "nats-exporter.addr"
        self.log_path = log_dir / "nats-exporter.log"
        self.process: ManagedProcess | None = None
        self.address = ""  # host:port of its /metrics, once started

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive() else None

    def start(self, timeout_s: float = 30.0) -> None:
        self.address_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", __name__, "--monitor", self.monitor_url]
        args += ["--listen", "127.0.0.1:0", "--address-file", str(self.address_file)]
        self.process = ManagedProcess.start("nats-exporter", args, self.log_path)
        deadline = time.monotonic() + timeout_s
        while not self.address_file.exists():
            if not self.process.alive() or time.monotonic() > deadline:
                raise StackError(
                    f"the bus exporter did not start; log {self.log_path}:\n"
                    f"{self.process.tail_log()}"
                )
            time.sleep(0.05)
        self.address = self.address_file.read_text().strip()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop("SIGTERM", timeout_s=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.stack.bus_exporter", description=__doc__)
    parser.add_argument(
        "--monitor",
        action="append",
        required=True,
        help="nats-server monitoring URL, e.g. http://127.0.0.1:8222 (repeat for a cluster)",
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: any)")
    parser.add_argument("--address-file", type=Path, help="write the bound host:port here")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JetStreamCollector(args.monitor))
    ProcessCollector(registry=registry)
    host, port = args.listen.rsplit(":", 1)
    server, _ = start_http_server(int(port), addr=host, registry=registry)
    if args.address_file is not None:
        tmp = args.address_file.with_suffix(".tmp")
        tmp.write_text(f"{host}:{server.server_port}")
        tmp.replace(args.address_file)
    print(f"serving /metrics on {host}:{server.server_port} for {args.monitor}", flush=True)
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
