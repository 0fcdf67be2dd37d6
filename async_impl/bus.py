"""The bus: JetStream streams (the event store), connections that never give up, dead letters."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from blog import events

log = logging.getLogger(__name__)

# The event store. Retention: everything, forever (no max age), so a new or emptied read model
# can always be rebuilt from the first event; bounded in bytes, and a full stream refuses new
# events (discard NEW) instead of silently dropping history: writers keep them in their outbox.
EVENTS = "BLOG_EVENTS"
DLQ = "BLOG_DLQ"
EVENT_STREAM = StreamConfig(
    name=EVENTS,
    description="Every event of the blog, the event store of the async implementation",
    subjects=list(events.PAYLOADS),
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    max_age=0,
    max_bytes=2 * 1024**3,
    discard=DiscardPolicy.NEW,
    duplicate_window=120.0,  # seconds of Nats-Msg-Id de-duplication
)
# Dead letters: poison events with the reason, per consumer ("dlq.<consumer>").
DLQ_PREFIX = "dlq"
DLQ_STREAM = StreamConfig(
    name=DLQ,
    description="Events a consumer could not process, with the reason in headers",
    subjects=[f"{DLQ_PREFIX}.>"],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    max_age=0,
    max_bytes=256 * 1024**2,
    discard=DiscardPolicy.NEW,
)

# Headers of a dead letter.
H_REASON = "Lab-Reason"
H_CONSUMER = "Lab-Consumer"
H_SUBJECT = "Lab-Original-Subject"
H_SEQ = "Lab-Original-Seq"
H_DELIVERED = "Lab-Delivered"


async def connect(url: str, name: str) -> NATS:
    """Connect, retrying forever with backoff: first connect included (the bus may start late)."""

    async def disconnected() -> None:
        log.warning("bus disconnected")

    async def reconnected() -> None:
        log.warning("bus reconnected")

    async def error(e: Exception) -> None:
        log.warning("bus error: %s", e)

    delay = 0.1
    while True:
        try:
            return await nats.connect(
                url,
                name=name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,  # never give up
                reconnect_time_wait=0.25,
                connect_timeout=2,
                drain_timeout=5,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
            )
        except (OSError, nats.errors.NoServersError, TimeoutError) as e:
            log.warning("bus not reachable at %s (%s); retrying in %.1fs", url, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def in_memory(config: StreamConfig) -> StreamConfig:
    """`config` kept in nats-server's memory instead of its file store: the noise study's
    diagnosis of what the event store's writes cost (lab.stack.knobs; never durable). Bounded
    below the server's max_memory_store (256 MB), which a study's runs stay far below."""
    return dataclasses.replace(config, storage=StorageType.MEMORY, max_bytes=192 * 1024**2)


async def ensure_streams(js: JetStreamContext, *, memory: bool = False) -> None:
    """Create or update both streams (idempotent; every service may call it at start); with
    `memory`, the event stream in memory (the dead letters stay on file)."""
    events_config = in_memory(EVENT_STREAM) if memory else EVENT_STREAM
    for name, config in ((EVENTS, events_config), (DLQ, DLQ_STREAM)):
        try:
            await js.stream_info(name)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)


def dlq_subject(consumer: str) -> str:
    return f"{DLQ_PREFIX}.{consumer}"
