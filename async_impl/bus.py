"""The bus: JetStream streams (the event store), connections that never give up, dead letters."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError

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


def servers(url: str) -> list[str]:
    """The nodes of `url`: one URL, or a cluster's as a comma-separated list."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, name: str) -> NATS:
    """Connect, retrying forever with backoff: first connect included (the bus may start late).
    `url` may list every node of a cluster (url,url,...): the client then reconnects to another
    node by itself when one goes away, with no restart (failover)."""

    connected: list[NATS] = []

    async def disconnected() -> None:
        # nats.py calls this on a close() of our own as well (status CLOSED by then): only a
        # lost connection is worth a warning.
        if not (connected and connected[0].is_closed):
            log.warning("bus disconnected")

    async def reconnected() -> None:
        log.warning("bus reconnected")

    async def error(e: Exception) -> None:
        log.warning("bus error: %s", e)

    delay = 0.1
    while True:
        try:
            nc = await nats.connect(
                servers(url),
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
            connected.append(nc)
            return nc
        except (OSError, nats.errors.NoServersError, TimeoutError) as e:
            log.warning("bus not reachable at %s (%s); retrying in %.1fs", url, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def in_memory(config: StreamConfig) -> StreamConfig:
    """`config` kept in nats-server's memory instead of its file store: the noise study's
    diagnosis of what the event store's writes cost (lab.stack.knobs; never durable). Bounded
    below the server's max_memory_store (256 MB), which a study's runs stay far below."""
    return dataclasses.replace(config, storage=StorageType.MEMORY, max_bytes=192 * 1024**2)


def stream_configs(replicas: int = 1, *, memory: bool = False) -> list[StreamConfig]:
    """Both streams as they should be, with `replicas` replicas each; with `memory`, the event
    stream in memory (the dead letters stay on file)."""
    events_config = in_memory(EVENT_STREAM) if memory else EVENT_STREAM
    return [dataclasses.replace(c, num_replicas=replicas) for c in (events_config, DLQ_STREAM)]


# What ensure_streams compares (and an update may change) of an existing stream's configuration.
_COMPARED = (
    "description",
    "retention",
    "storage",
    "max_age",
    "max_bytes",
    "discard",
    "duplicate_window",
    "num_replicas",
)


def differs(current: StreamConfig, wanted: StreamConfig) -> list[str]:
    """The settings of `wanted` an existing stream does not have (subjects in any order; a
    setting `wanted` leaves unset is the server's default, whatever that is)."""
    names = [
        n
        for n in _COMPARED
        if getattr(wanted, n) is not None and getattr(current, n) != getattr(wanted, n)
    ]
    if sorted(current.subjects or []) != sorted(wanted.subjects or []):
        names.append("subjects")
    return names


async def ensure_streams(
    js: JetStreamContext, replicas: int = 1, *, memory: bool = False, retry_s: float = 30.0
) -> None:
    """Create both streams, or bring existing ones to this configuration: e.g. an R1 stream
    becomes R3 in place (JetStream copies it to the new replicas; nothing is lost). Every
    service calls it at start, concurrently: creating an identical stream twice is a no-op, and
    an update is made only when something differs. A cluster that is electing a leader answers
    503 for a moment: retried for `retry_s`. With `memory`, the event stream in memory (the
    noise study's diagnosis, lab.stack.knobs)."""
    deadline = time.monotonic() + retry_s
    for wanted in stream_configs(replicas, memory=memory):
        while True:
            try:
                await _ensure(js, wanted)
                break
            except (
                ServiceUnavailableError,  # 503: JetStream electing a leader
                nats.errors.NoRespondersError,  # a cluster not formed yet
                nats.errors.TimeoutError,
            ) as error:
                if time.monotonic() > deadline:
                    raise
                log.warning("stream %s: %s; retrying", wanted.name, error)
                await asyncio.sleep(0.5)


async def _ensure(js: JetStreamContext, wanted: StreamConfig) -> None:
    assert wanted.name is not None
    try:
        info = await js.stream_info(wanted.name)
    except NotFoundError:
        await js.add_stream(wanted)
        return
    changed = differs(info.config, wanted)
    if changed:
        log.warning("stream %s: updating %s", wanted.name, ", ".join(changed))
        await js.update_stream(wanted)


def dlq_subject(consumer: str) -> str:
    return f"{DLQ_PREFIX}.{consumer}"
