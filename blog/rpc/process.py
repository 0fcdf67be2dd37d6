"""The life of one service process, in both implementations: settings -> assemble -> serve ->
graceful stop (health NOT_SERVING, server.stop(grace), then everything closed in reverse)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import sqlalchemy as sa

from blog.rpc import gc_pauses
from blog.rpc.exposition import start_exposition
from blog.rpc.metrics import Metrics
from blog.rpc.metrics import registration as metrics_registration
from blog.rpc.server import Registration, configure_logging, create_server, serve
from blog.rpc.server_metrics import RpcMetricsInterceptor
from blog.rpc.settings import BadSettings, ServiceSettings, load_settings
from blog.store import schema
from blog.store.pool import Database
from blog.tracing import setup as tracing
from blog.tracing.grpc import server_interceptors


@dataclass
class Assembly:
    """What a service process serves, what it runs beside the server, and what must be closed
    after the server stopped (closed last opened, first); `interceptors` see every RPC it
    serves."""

    service: str
    registrations: list[Registration] = field(default_factory=list)
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    metrics: Metrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.service)


async def open_database(
    settings: ServiceSettings, assembly: Assembly, *extra: sa.MetaData
) -> Database:
    """Open this service's own database, create its tables (and `extra` ones) if missing, and
    close it on stop."""
    database = Database(
        assembly.service,
        settings.dsn,
        pool_size=settings.db_pool_size,
        timeout_s=settings.db_timeout_s,
    )
    await database.open()
    for metadata in (schema.SCHEMAS[assembly.service], *extra):
        await database.create_schema(metadata)
    assembly.cleanups.append(database.dispose)
    return database


Assemble = Callable[[ServiceSettings, Assembly], Awaitable[None]]


def run(
    prog: str, service: str, required: Sequence[str], assemble: Assemble, argv: list[str] | None
) -> None:
    """Entry point of a service: parse settings (failing fast: one line and exit code 2 for a bad
    or missing one, before anything starts), assemble the process, serve."""
    try:
        settings = load_settings(prog, sys.argv[1:] if argv is None else argv)
        settings.require(*required)
        settings.require_trace_dir()
    except BadSettings as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(prog)
    impl = implementation(prog, settings)
    asyncio.run(_main(service, impl, settings, assemble))


def implementation(prog: str, settings: ServiceSettings) -> str:
    """The implementation a process belongs to, as lab.stack.topology names it (its spans'
    lab.impl): "sync-comments" -> "sync", or "sync-resilient" with the patterns on."""
    impl = prog.split("-", 1)[0]
    return "sync-resilient" if impl == "sync" and settings.resilience else impl


async def _main(service: str, impl: str, settings: ServiceSettings, assemble: Assemble) -> None:
    assembly = Assembly(service)
    gc_pauses.install(assembly.metrics)  # docs/METHOD.md, Noise
    # Before anything is assembled: channels and the database look at it when they are made.
    stop_tracing = tracing.start(
        service, impl, settings.trace_sample, settings.trace_dir or Path(".")
    )
    if stop_tracing is not None:
        assembly.cleanups.append(_async(stop_tracing))  # closed last: every span flushed
    timing: list[grpc.aio.ServerInterceptor] = []
    if settings.metrics_listen:
        # Listening before anything else is assembled, closed (almost) last: the figures of
        # start-up and shutdown are visible too. The runner reads metrics_file once the gRPC
        # ready file exists. The RPC timing is the innermost interceptor: it sees each method's
        # own handler, whatever tracing decides per call.
        exposition = start_exposition(
            assembly.metrics, settings.metrics_listen, settings.metrics_file
        )
        assembly.cleanups.append(exposition.stop)
        timing.append(RpcMetricsInterceptor(assembly.metrics))
    await assemble(settings, assembly)
    if settings.gc_freeze:
        gc_pauses.freeze()  # start-up is over: what it allocated need not be scanned again
    registrations = [*assembly.registrations, metrics_registration(assembly.metrics)]
    # Tracing outermost (a request the resilience patterns refuse is still traced), the RPC
    # timing innermost (each method's own handler).
    interceptors = [*server_interceptors(), *assembly.interceptors, *timing]
    server, port, health = create_server(settings.listen, registrations, interceptors)
    host = settings.listen.rsplit(":", 1)[0]
    await serve(
        server,
        health,
        [name for _, _, name in registrations],
        address=f"{host}:{port}",
        grace_s=settings.grace_s,
        ready_file=settings.ready_file,
        cleanups=list(reversed(assembly.cleanups)),  # last opened, first closed
    )


def _async(close: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def closing() -> None:
        close()

    closing.__qualname__ = "tracing"
    return closing
