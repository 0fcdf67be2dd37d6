"""The life of one service process: settings -> build -> serve -> graceful stop (both impls)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from lab import db as schemas
from lab.config import ServiceSettings, load_settings
from lab.db import Database
from lab.rpc import Registration, configure_logging, create_server, serve


@dataclass
class Wiring:
    """What a service process serves, and what must be closed after the server stopped."""

    registrations: list[Registration]
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def open_database(name: str, settings: ServiceSettings, wiring: Wiring) -> Database:
    """Open this service's own database, create its schema if missing, and close it on stop."""
    database = Database(
        name, settings.dsn, pool_size=settings.db_pool_size, timeout_s=settings.db_timeout_s
    )
    await database.create_schema(schemas.SCHEMAS[name])
    wiring.cleanups.append(database.dispose)
    return database


def run(
    prog: str,
    required: Sequence[str],
    build: Callable[[ServiceSettings, Wiring], Awaitable[None]],
    argv: list[str] | None = None,
) -> None:
    """Entry point of a service: parse settings (failing fast), build the wiring, serve."""
    settings = load_settings(prog, sys.argv[1:] if argv is None else argv)
    settings.require(*required)
    configure_logging(prog)
    asyncio.run(_main(settings, build))


async def _main(
    settings: ServiceSettings, build: Callable[[ServiceSettings, Wiring], Awaitable[None]]
) -> None:
    wiring = Wiring([])
    await build(settings, wiring)
    server, port, health = create_server(settings.listen, wiring.registrations)
    host = settings.listen.rsplit(":", 1)[0]
    await serve(
        server,
        health,
        [name for _, _, name in wiring.registrations],
        address=f"{host}:{port}",
        grace_s=settings.grace_s,
        ready_file=settings.ready_file,
        cleanups=wiring.cleanups,
    )
