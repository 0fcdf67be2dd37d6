"""How an async service process is put together: its database (with the async tables), its bus
connection, its outbox relay and its durable consumer, each closed on stop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from async_impl import bus
from async_impl.consumer import DurableConsumer, Handler
from async_impl.relay import OutboxRelay
from async_impl.schema import TABLES, UPGRADES
from async_impl.subscriptions import SUBSCRIPTIONS
from blog.rpc.process import Assembly, open_database
from blog.rpc.settings import ServiceSettings
from blog.store.pool import Database


@dataclass
class BusConnection:
    """A connection to NATS, its JetStream context, and the replica count of the streams and
    consumers (LAB_STREAM_REPLICAS)."""

    nc: NATS
    js: JetStreamContext
    replicas: int = 1


async def open_store(settings: ServiceSettings, assembly: Assembly) -> Database:
    """This service's database with its own tables and the async ones (outbox, ...)."""
    database = await open_database(settings, assembly, TABLES[assembly.service])
    for statement in UPGRADES[assembly.service]:
        await database.execute(statement)
    return database


async def open_bus(settings: ServiceSettings, assembly: Assembly) -> BusConnection:
    """Connect to NATS (every node of a cluster; retrying), make sure the streams exist with
    the configured replicas, drain the connection on stop."""
    nc = await bus.connect(settings.nats_url, name=assembly.service)
    js = nc.jetstream()
    await bus.ensure_streams(js, settings.stream_replicas, memory=settings.bus_memory_storage)
    assembly.cleanups.append(nc.drain)
    return BusConnection(nc, js, settings.stream_replicas)


def start_relay(database: Database, connection: BusConnection, assembly: Assembly) -> OutboxRelay:
    """The relay of this service's outbox, started now, stopped on shutdown."""
    relay = OutboxRelay(database, connection.js, assembly.metrics)
    relay.start()
    assembly.cleanups.append(relay.stop)
    assembly.metrics.add_probe(relay.backlog)
    return relay


def durable_consumer(
    database: Database,
    connection: BusConnection,
    assembly: Assembly,
    handlers: Mapping[str, Handler],
    relay: OutboxRelay | None = None,
    **options: Any,
) -> DurableConsumer:
    """The service's durable consumer (named after the service) of the events its subscription
    names, one handler each; the events its handlers cause go to the relay. Stopped on
    shutdown; not started."""
    wanted = SUBSCRIPTIONS[assembly.service].consumes
    if set(handlers) != wanted:
        raise ValueError(f"{assembly.service} handles {sorted(handlers)}, subscribes {wanted}")
    consumer = DurableConsumer(
        assembly.service,
        nc=connection.nc,
        js=connection.js,
        db=database,
        handlers=handlers,
        metrics=assembly.metrics,
        publishes=relay is not None,
        on_commit=relay.published_later if relay else lambda events: None,
        replicas=connection.replicas,
        **options,
    )
    assembly.cleanups.append(consumer.stop)
    return consumer
