"""What tracing costs a gRPC call (grpc.aio client and server in this process, loopback): no
tracing; the lab's tracing (blog.tracing.grpc) in a request that is not sampled and in one that
is; and the instrumentation's interceptors alone in a request that is not sampled, which is
what the lab's fast path for such requests avoids. The ways interleaved round by round (in one
order, then the reverse); each figure is the median over the rounds of the process's CPU time
per call (client and server together) and of the wall time per call.

Usage: python -m benchmarks.floor.grpc_spans [N per round] [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from blog.tracing import STATE
from blog.tracing.grpc import aio_channel, is_traced, server_interceptors

METHOD = "/blog.v1.PostService/GetPost"  # a traced method; the handler echoes the bytes


def echo_handler() -> grpc.GenericRpcHandler:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    handler = grpc.unary_unary_rpc_method_handler(echo)
    return grpc.method_handlers_generic_handler("blog.v1.PostService", {"GetPost": handler})


async def per_call(n: int, port: int, channel: Any, tracer: trace.Tracer) -> tuple[float, float]:
    """(CPU us, wall us) per call, each call inside a request span (sampled or not)."""
    call = channel.unary_unary(METHOD)
    for _ in range(50):
        await call(b"x")
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        with tracer.start_as_current_span("request"):
            await call(b"x")
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


async def way(n: int, server_interceptors: list[Any], channel: Callable[[str], Any]) -> Any:
    server = grpc.aio.server(interceptors=server_interceptors or None)
    server.add_generic_rpc_handlers((echo_handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = channel(f"127.0.0.1:{port}")
    try:
        return await per_call(n, port, client, STATE.tracer)
    finally:
        await client.close()
        await server.stop(None)


def use(provider: TracerProvider | None) -> None:
    """Make `provider` this process's (None: tracing off), as blog.tracing.setup would."""
    trace._TRACER_PROVIDER = provider  # type: ignore[attr-defined]  # switched per way
    STATE.on = provider is not None
    STATE.tracer = provider.get_tracer("bench") if provider else trace.NoOpTracer()


async def measure(n: int, rounds: int, tmp: Path) -> None:
    def provider(sampled: bool) -> TracerProvider:
        made = TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF)
        exporter = FileSpanExporter(tmp / f"{sampled}.jsonl")
        made.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65_536))
        return made

    sampled, unsampled = provider(True), provider(False)

    async def off() -> Any:
        use(None)
        return await way(n, [], lambda target: grpc.aio.insecure_channel(target))

    async def lab(tracing: TracerProvider) -> Any:
        use(tracing)
        result = await way(n, server_interceptors(), lambda target: aio_channel(target, []))
        tracing.force_flush()
        return result

    async def library_alone() -> Any:
        use(unsampled)
        interceptors = list(aio_client_interceptors(filter_=is_traced))
        return await way(
            n,
            [aio_server_interceptor(filter_=is_traced)],
            lambda target: grpc.aio.insecure_channel(target, interceptors=interceptors),
        )

    ways: dict[str, Callable[[], Awaitable[Any]]] = {
        "tracing off": off,
        "lab, request not sampled": lambda: lab(unsampled),
        "lab, request sampled": lambda: lab(sampled),
        "interceptors alone, not sampled": library_alone,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for r in range(rounds):
        for name in list(ways) if r % 2 == 0 else list(reversed(ways)):
            results[name].append(await ways[name]())
    use(None)
    sampled.shutdown()
    unsampled.shutdown()
    base = statistics.median(c for c, _ in results["tracing off"])
    print(f"one unary call, client and server: us per call, median of {rounds} rounds of {n}")
    print(f"{'way':34} {'CPU':>8} {'vs off':>8} {'wall':>8}")
    for name, values in results.items():
        cpu = statistics.median(c for c, _ in values)
        wall = statistics.median(w for _, w in values)
        print(f"{name:34} {cpu:8.1f} {cpu - base:+8.1f} {wall:8.1f}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="lab-grpc-spans-") as tmp:
        asyncio.run(measure(n, rounds, Path(tmp)))


if __name__ == "__main__":
    main()
