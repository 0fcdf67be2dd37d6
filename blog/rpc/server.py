"""Servers: build one with our services, health and reflection; serve it until SIGTERM; stop in
order."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)


Registration = tuple[Callable[[Any, grpc.aio.Server], None], Any, str]


def create_server(
    listen: str,
    registrations: Iterable[Registration],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> tuple[grpc.aio.Server, int, grpc_health.aio.HealthServicer]:
    """Build a server with our services, health and reflection; bind it. Returns (server, port).

    Tests bind port 0 and read the port back. `interceptors` see every RPC, the first outermost
    (tracing's; sync with resilience patterns: load shedding). None by default.
    """
    server = grpc.aio.server(interceptors=list(interceptors) or None)
    health = grpc_health.aio.HealthServicer()
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    for add, servicer, full_name in registrations:
        add(servicer, server)
        names.append(full_name)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names.append(reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    return server, port, health


def stop_signal() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (installed on the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(
    server: grpc.aio.Server,
    health: grpc_health.aio.HealthServicer,
    services: Iterable[str],
    *,
    address: str,
    grace_s: float,
    ready_file: Path | None = None,
    cleanups: Iterable[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Serve until SIGTERM/SIGINT, then shut down in order.

    Order: health NOT_SERVING -> server.stop(grace) (in-flight RPCs finish) -> cleanups
    (close channels, bus connections, database pools).
    """
    stop = stop_signal()
    await server.start()
    for name in ["", *services]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(address)
        tmp.replace(ready_file)  # atomic: the runner never reads half an address
    log.info("serving on %s", address)
    await stop.wait()
    log.info("stopping (grace %.1fs)", grace_s)
    await health.enter_graceful_shutdown()
    await server.stop(grace_s)
    for cleanup in cleanups:
        name = getattr(cleanup, "__qualname__", repr(cleanup))
        try:
            await cleanup()
            log.info("closed: %s", name)
        except Exception:
            log.exception("cleanup failed: %s", name)
    log.info("stopped")


def service_name(descriptor_module: Any, service: str) -> str:
    return descriptor_module.DESCRIPTOR.services_by_name[service].full_name


def configure_logging(name: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
    )
