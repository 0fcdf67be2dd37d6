"""The bus exporter: a small process serving the bus's JetStream figures (lab.stack.bus_metrics)
as Prometheus text on /metrics, until SIGTERM.

    python -m lab.stack.bus_exporter --monitor http://127.0.0.1:8222 --listen 127.0.0.1:0 \\
        --address-file run/nats-exporter.addr

A process of its own rather than a thread of the runner: it outlives a kill of the bus (and
reports it), its CPU is measured apart from everything else (a measurement tool measures
itself), and the same module runs as the compose stack's and a pod's exporter.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from lab.stack.bus_metrics import JetStreamCollector


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
