"""What every async service process sets up: its bus connection and its outbox relay."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from async_impl import bus
from async_impl.outbox import OutboxRelay
from lab import db as schemas
from lab.config import ServiceSettings
from lab.db import Database
from lab.service import Wiring


@dataclass
class Bus:
    nc: NATS
    js: JetStreamContext
    state: bus.BusState


async def open_bus(service: str, settings: ServiceSettings, wiring: Wiring) -> Bus:
    """Connect to NATS (retrying), make sure the streams exist, drain the connection on stop."""
    state = bus.BusState()
    nc = await bus.connect(settings.nats_url, name=service, state=state)
    js = nc.jetstream()
    await bus.ensure_streams(js)
    wiring.cleanups.append(nc.drain)
    return Bus(nc, js, state)


def start_relay(service: str, db: Database, conn: Bus, wiring: Wiring) -> OutboxRelay:
    relay = OutboxRelay(db, schemas.OUTBOXES[service].name, conn.js, wiring.metrics)
    relay.start()
    wiring.cleanups.append(relay.stop)
    return relay
