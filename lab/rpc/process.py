"""The life of one service process: settings -> build -> serve -> graceful stop (both impls)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from lab import db as schemas
from lab.config import ServiceSettings, load_settings
from lab.db import Database
from lab.metrics import Metrics
from lab.metrics import registration as metrics_registration
from lab.rpc import Registration, configure_logging, create_server, serve


@dataclass
class Wiring:
    """What a service process serves, what it runs beside the server, and what must be closed
    after the server stopped (in order)."""

    service: str
    registrations: list[Registration] = field(default_factory=list)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    metrics: Metrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.service)


async def open_database(
    name: str, settings: ServiceSettings, wiring: Wiring, *, events: bool = False
) -> Database:
    """Open this service's own database, create its schema if missing, and close it on stop.

    `events`: also the tables of the asynchronous implementation (outbox, processed events,
    read model).
    """
    database = Database(
        name, settings.dsn, pool_size=settings.db_pool_size, timeout_s=settings.db_timeout_s
    )
    await database.open()
    await database.create_schema(schemas.SCHEMAS[name])
    if events:
        await database.create_schema(schemas.EVENT_SCHEMAS[name])
    wiring.cleanups.append(database.dispose)
    return database


def run(
    prog: str,
    service: str,
    required: Sequence[str],
    build: Callable[[ServiceSettings, Wiring], Awaitable[None]],
    argv: list[str] | None = None,
) -> None:
    """Entry point of a service: parse settings (failing fast), build the wiring, serve."""
    settings = load_settings(prog, sys.argv[1:] if argv is None else argv)
    settings.require(*required)
    configure_logging(prog)
    asyncio.run(_main(service, settings, build))


async def _main(
    service: str,
    settings: ServiceSettings,
    build: Callable[[ServiceSettings, Wiring], Awaitable[None]],
) -> None:
    wiring = Wiring(service)
    await build(settings, wiring)
    registrations = [*wiring.registrations, metrics_registration(wiring.metrics)]
    server, port, health = create_server(settings.listen, registrations)
    host = settings.listen.rsplit(":", 1)[0]
    await serve(
        server,
        health,
        [name for _, _, name in registrations],
        address=f"{host}:{port}",
        grace_s=settings.grace_s,
        ready_file=settings.ready_file,
        cleanups=list(reversed(wiring.cleanups)),  # last opened, first closed
    )
