"""Every unary RPC timed and counted by status (blog/rpc/server_metrics.py), on a real grpc.aio
server on loopback with handlers that answer, abort, fail and are too slow for their deadline."""

from __future__ import annotations

import asyncio

import grpc

from blog.rpc.metrics import Metrics
from blog.rpc.server_metrics import RpcMetricsInterceptor


async def ok(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def not_found(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    raise AssertionError("abort returns never")


async def boom(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise ValueError("a bug")


async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(5)
    return request


async def exercise(metrics: Metrics) -> None:
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(behaviour)
        for name, behaviour in {"Ok": ok, "NotFound": not_found, "Boom": boom, "Slow": slow}.items()
    }
    server = grpc.aio.server(interceptors=[RpcMetricsInterceptor(metrics)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(3):
                assert await channel.unary_unary("/test.Echo/Ok")(b"x", timeout=5) == b"x"
            for method in ("NotFound", "Boom", "Slow"):
                try:
                    await channel.unary_unary(f"/test.Echo/{method}")(b"x", timeout=0.2)
                except grpc.aio.AioRpcError:
                    pass
            await asyncio.sleep(0.3)  # the server side of the cancelled call finishes
    finally:
        await server.stop(None)


def test_each_rpc_is_timed_and_counted_by_status() -> None:
    metrics = Metrics("test")
    asyncio.run(exercise(metrics))
    assert {name: n for name, n in metrics.counters.items()} == {
        "rpc.test.Echo/Ok.OK": 3,
        "rpc.test.Echo/NotFound.NOT_FOUND": 1,
        "rpc.test.Echo/Boom.UNKNOWN": 1,
        "rpc.test.Echo/Slow.CANCELLED": 1,
    }
    assert metrics.histograms["rpc_us.test.Echo/Ok"].get_total_count() == 3
    slow_us = metrics.histograms["rpc_us.test.Echo/Slow"].get_max_value()
    assert 150_000 < slow_us < 5_000_000  # until the deadline cancelled it
