"""What every async service process sets up: its bus connection and its outbox relay."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from async_impl import bus
from async_impl.consumer import DurableConsumer, Handler
from async_impl.outbox import OutboxRelay
from lab import db as schemas
from lab.config import ServiceSettings
from lab.db import Database
from lab.service import Wiring


@dataclass
class Bus:
    nc: NATS
    js: JetStreamContext


async def open_bus(service: str, settings: ServiceSettings, wiring: Wiring) -> Bus:
    """Connect to NATS (retrying), make sure the streams exist, drain the connection on stop."""
    nc = await bus.connect(settings.nats_url, name=service)
    js = nc.jetstream()
    await bus.ensure_streams(js)
    wiring.cleanups.append(nc.drain)
    return Bus(nc, js)


def start_relay(service: str, db: Database, conn: Bus, wiring: Wiring) -> OutboxRelay:
    relay = OutboxRelay(db, schemas.OUTBOXES[service].name, conn.js, wiring.metrics)
    relay.start()
    wiring.cleanups.append(relay.stop)
    return relay


def consumer(
    service: str,
    db: Database,
    conn: Bus,
    wiring: Wiring,
    handlers: Mapping[str, Handler],
    relay: OutboxRelay | None = None,
    **options: Any,
) -> DurableConsumer:
    """The service's durable consumer (named after the service), wired to its processed-events
    table, its outbox and relay (if it publishes), and stopped on shutdown. Not started."""
    outbox = schemas.OUTBOXES.get(service)
    durable = DurableConsumer(
        service,
        nc=conn.nc,
        js=conn.js,
        db=db,
        processed=schemas.PROCESSED[service].name,
        outbox=outbox.name if outbox is not None else None,
        handlers=handlers,
        metrics=wiring.metrics,
        on_commit=relay.published_later if relay else lambda events: None,
        **options,
    )
    wiring.cleanups.append(durable.stop)
    return durable
