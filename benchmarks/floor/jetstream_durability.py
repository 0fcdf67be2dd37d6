"""What fsyncing every JetStream write costs here: publish-with-ack latency on a nats-server with
`sync_interval: always` against one with the default (fsync every 2 minutes), measured in
alternating rounds on the same machine. The figures in docs/METHOD.md (Cost) come from this.

Usage: python -m benchmarks.floor.jetstream_durability [N_PER_ROUND] [ROUNDS] > results.json
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import nats
from hdrh.histogram import HdrHistogram
from nats.js.api import StorageType, StreamConfig

from benchmarks.load.hdr import merge, new_histogram, record, summary
from lab.runs.machine import machine_meta
from lab.stack.nats_server import NatsServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _round(url: str, n: int) -> HdrHistogram:
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        try:
            await js.add_stream(
                StreamConfig(
                    name="DURABILITY", subjects=["lab.durability"], storage=StorageType.FILE
                )
            )
        except Exception:  # noqa: BLE001 - it exists from an earlier round
            pass
        hist = new_histogram()
        payload = b"x" * 300  # about an event's size
        for i in range(n + 50):
            started = time.perf_counter()
            await js.publish("lab.durability", payload, timeout=5)
            if i >= 50:  # warm-up
                record(hist, (time.perf_counter() - started) * 1e6)
        return hist
    finally:
        await nc.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="lab-durability-") as tmp:
        servers = {
            name: NatsServer(
                Path(tmp) / name / "store",
                free_port(),
                free_port(),
                Path(tmp) / name,
                sync_always=(name == "sync_always"),
            )
            for name in ("sync_always", "default")
        }
        encoded: dict[str, list[str]] = {name: [] for name in servers}
        try:
            for server in servers.values():
                server.start()
            for _ in range(rounds):  # alternate, so drift hits both
                for name, server in servers.items():
                    hist = asyncio.run(_round(server.url, n))
                    encoded[name].append(hist.encode().decode())
        finally:
            for server in servers.values():
                server.stop()
    result = {
        "n_per_round": n,
        "rounds": rounds,
        "machine": machine_meta(),
        "publish_ms": {name: summary(merge(parts)) for name, parts in encoded.items()},
        "p50_ms_per_round": {
            name: [summary(merge([part]))["p50_ms"] for part in parts]
            for name, parts in encoded.items()
        },
        "hdr": encoded,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
