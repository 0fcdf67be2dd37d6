"""The floor, measured in the same run on the same machine (docs/METHOD.md, Calibration): a
bare grpc.aio unary echo round trip (service to service), the same round trip from the load
generator's own client stack (the first hop of every operation), a bare JetStream
publish-with-ack, a bare one-row INSERT (+ its COMMIT) and a bare primary-key SELECT on one of
the lab's PostgreSQL servers. Each is timed one call at a time from a single client: the cost
of the part alone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import nats
from nats.js.api import StorageType, StreamConfig

from benchmarks.floor.echo_server import METHOD
from benchmarks.floor.shapes import floor_shapes
from benchmarks.load.hdr import LatencySummary, new_histogram, record, summary
from lab.stack.processes import ManagedProcess
from lab.stack.stackfile import StackInfo, bus_urls

# The unavoidable parts of each operation: (gRPC hops, commits, reads) on its critical path,
# derived from the operations' shapes (shapes.OPERATIONS).
SHAPES: dict[str, dict[str, tuple[int, int, int]]] = floor_shapes()


class CalibrationPart(LatencySummary):
    """One part's timings (hdr.summary) and its raw histogram."""

    hdr: str


async def _time(n: int, call: Callable[[], Awaitable[Any]]) -> CalibrationPart:
    hist = new_histogram()
    for _ in range(max(10, n // 10)):  # warm-up: connections, prepared statements
        await call()
    for _ in range(n):
        start = time.perf_counter()
        await call()
        record(hist, (time.perf_counter() - start) * 1e6)
    return {**summary(hist), "hdr": hist.encode().decode()}


async def grpc_echo(n: int, run_dir: Path, log_dir: Path) -> dict[str, CalibrationPart]:
    ready = run_dir / "echo.addr"
    ready.unlink(missing_ok=True)
    server = ManagedProcess.start(
        "echo",
        [sys.executable, "-m", "benchmarks.floor.echo_server", "--ready-file", str(ready)],
        log_dir / "echo-server.log",
    )
    try:
        for _ in range(200):
            if ready.exists():
                break
            await asyncio.sleep(0.05)
        async with grpc.aio.insecure_channel(ready.read_text()) as channel:
            echo = channel.unary_unary(METHOD)
            payload = b"x" * 100
            aio = await _time(n, lambda: echo(payload, timeout=5))
        generator = subprocess.run(
            [sys.executable, "-m", "benchmarks.floor.client_echo", ready.read_text(), str(n)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return {"aio": aio, "generator": json.loads(generator.stdout)}
    finally:
        server.stop("SIGTERM", timeout_s=5)


async def postgres(dsn: str, n: int) -> tuple[CalibrationPart, CalibrationPart]:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS lab_calibration (id bigserial PRIMARY KEY, v text)"
        )
        insert = await _time(
            n, lambda: conn.execute("INSERT INTO lab_calibration (v) VALUES ('x')")
        )
        select = await _time(
            n, lambda: conn.fetchrow("SELECT id, v FROM lab_calibration WHERE id = 1")
        )
        return insert, select
    finally:
        await conn.execute("DROP TABLE IF EXISTS lab_calibration")
        await conn.close()


async def jetstream(urls: list[str], n: int, replicas: int = 1) -> CalibrationPart:
    """Publish-with-ack to a stream of its own with as many replicas as the stack's streams
    (on R3 the leader acknowledges once a quorum of two has the message)."""
    nc = await nats.connect(urls)
    js = nc.jetstream()
    try:
        await js.add_stream(
            StreamConfig(
                name="LAB_CALIBRATION",
                subjects=["lab.calibration"],
                storage=StorageType.FILE,
                num_replicas=replicas,
            )
        )
        payload = b"x" * 200
        return await _time(n, lambda: js.publish("lab.calibration", payload, timeout=5))
    finally:
        await js.delete_stream("LAB_CALIBRATION")
        await nc.close()


def calibrate(
    stack: StackInfo, run_dir: Path, log_dir: Path, n: int = 1000
) -> dict[str, CalibrationPart]:
    """Measure every part; p50s in ms, and the raw histograms."""

    async def run() -> dict[str, CalibrationPart]:
        echo = await grpc_echo(n, run_dir, log_dir)
        parts: dict[str, CalibrationPart] = {
            "grpc_echo": echo["aio"],
            "grpc_echo_from_generator": echo["generator"],
        }
        dsn = stack["databases"]["posts"]["dsn"]
        parts["pg_insert_commit"], parts["pg_select"] = await postgres(dsn, n)
        if "bus" in stack:
            replicas = stack["bus"].get("stream_replicas", 1)
            parts["jetstream_publish"] = await jetstream(bus_urls(stack), n, replicas)
        return parts

    return asyncio.run(run())


def floors(impl: str, parts: dict[str, CalibrationPart]) -> dict[str, float]:
    """Each operation's floor in ms: the sum of its unavoidable parts' p50. The first hop is
    the generator's own round trip; further hops are service-to-service (grpc.aio)."""
    first_hop = parts["grpc_echo_from_generator"]["p50_ms"]
    hop = parts["grpc_echo"]["p50_ms"]
    commit = parts["pg_insert_commit"]["p50_ms"]
    read = parts["pg_select"]["p50_ms"]
    return {
        op: first_hop + (hops - 1) * hop + commits * commit + reads * read
        for op, (hops, commits, reads) in SHAPES[impl].items()
    }
