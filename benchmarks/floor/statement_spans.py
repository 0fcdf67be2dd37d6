"""What a span per database statement costs, and which way costs less: the lab's own span
around asyncpg's call (blog.tracing.statements) or opentelemetry-instrumentation-asyncpg's, each
with and without the export to an OTLP JSON file (the batch processor's thread encodes every
span: the exporter's share); what tracing costs a statement when the request is not sampled; and
a statement through Database.fetchval traced or not (the pool's checkout included; its wait
becomes a span only from 0.1 ms). On one connection to a PostgreSQL server the lab starts; the
ways are interleaved round by round (in one order, then the reverse), each flushing its own
spans; each figure is the median over the rounds of the mean time per call.

Usage: python -m benchmarks.floor.statement_spans [N per round] [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from blog.store.pool import Database
from blog.tracing import STATE
from blog.tracing.statements import TracedConnection
from lab.stack.net import free_port
from lab.stack.postgres import PostgresServer

QUERY = "SELECT 1"
OFF = "asyncpg, tracing off"


def provider(path: Path, sampled: bool) -> TracerProvider:
    made = TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF)
    made.add_span_processor(BatchSpanProcessor(FileSpanExporter(path), max_queue_size=65_536))
    return made


async def per_call_us(n: int, call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n * 1e6


async def measure(dsn: str, n: int, rounds: int, tmp: Path) -> None:
    db = Database("bench", dsn, pool_size=2)
    await db.open()
    sampled, unsampled = provider(tmp / "a.jsonl", True), provider(tmp / "b.jsonl", False)
    unexported = TracerProvider(sampler=ALWAYS_ON)  # spans made and ended, never written
    instrumentor = AsyncPGInstrumentor()
    async with db.pool.acquire() as raw:
        traced = TracedConnection(raw, "bench")

        async def bare() -> float:
            STATE.on = False
            return await per_call_us(n, lambda: raw.fetchval(QUERY))

        async def lab_spans(tracing: TracerProvider) -> float:
            STATE.on, STATE.tracer = True, tracing.get_tracer("bench")
            with STATE.tracer.start_as_current_span("request"):  # a request, sampled or not
                return await per_call_us(n, lambda: traced.fetchval(QUERY))

        async def instrumented(tracing: TracerProvider) -> float:
            STATE.on = False  # the library's spans alone
            instrumentor.instrument(tracer_provider=tracing)
            try:
                with tracing.get_tracer("bench").start_as_current_span("request"):
                    return await per_call_us(n, lambda: raw.fetchval(QUERY))
            finally:
                instrumentor.uninstrument()

        async def database(on: bool) -> float:
            STATE.on, STATE.tracer = on, sampled.get_tracer("bench")
            with STATE.tracer.start_as_current_span("request"):
                return await per_call_us(n, lambda: db.fetchval(QUERY))

        ways: dict[str, Callable[[], Awaitable[float]]] = {
            OFF: bare,
            "lab span, request not sampled": lambda: lab_spans(unsampled),
            "lab span, sampled, not exported": lambda: lab_spans(unexported),
            "lab span, sampled": lambda: lab_spans(sampled),
            "asyncpg instrumentation, not exported": lambda: instrumented(unexported),
            "asyncpg instrumentation, sampled": lambda: instrumented(sampled),
            "Database.fetchval, tracing off": lambda: database(False),
            "Database.fetchval, sampled": lambda: database(True),
        }
        await per_call_us(n, lambda: raw.fetchval(QUERY))  # warm-up
        results: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):
            order = list(ways) if r % 2 == 0 else list(reversed(ways))
            for name in order:
                results[name].append(await ways[name]())
                sampled.force_flush()  # each way pays for its own spans' export
    STATE.on = False
    await db.dispose()
    for made in (sampled, unsampled, unexported):
        made.shutdown()
    base = statistics.median(results[OFF])
    print(f"{QUERY!r}: us per call, median [min-max] of {rounds} rounds of {n}, ways interleaved")
    print(f"{'way':40} {'median':>8} {'min':>8} {'max':>8} {'vs off':>8}")
    for name, values in results.items():
        mid = statistics.median(values)
        print(f"{name:40} {mid:8.1f} {min(values):8.1f} {max(values):8.1f} {mid - base:+8.1f}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="lab-spans-") as tmp:
        server = PostgresServer("spans", Path(tmp) / "pg", free_port(), Path(tmp) / "logs")
        server.start()
        try:
            asyncio.run(measure(server.database.dsn, n, rounds, Path(tmp)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
