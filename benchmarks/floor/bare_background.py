"""The async bare chain's work beside its request path: what the async system does off the
request path, and nothing else (docs/METHOD.md, Calibration).

As in async_impl, and with the same client pieces (async_impl.bus.connect, async_impl.pull):
a write's server hands the row it committed to its relay, which publishes the event to
JetStream (the stack's own bus, a stream of the bare chain's own with the stack's replicas),
concurrently in batches, then deletes the batch's rows in one commit (async_impl.relay's fast
path); every role that consumes events (shapes.consumed_by) runs a durable pull consumer that
commits once per event (one INSERT, as the real consumers' one transaction of effect +
processed event id), acks it, and hands the event it causes (shapes.CAUSED) to its own relay.
No protobuf, no envelope, no de-duplication table, no domain code: the bytes, the commits and
the messages only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from async_impl.pull import PullStream
from benchmarks.floor.shapes import CAUSED, consumed_by
from blog.store.pool import Database

log = logging.getLogger(__name__)

STREAM = "LAB_BARE_CHAIN"
SUBJECT_PREFIX = "bare."
PAYLOAD = b"x" * 256  # about a real event's envelope
WINDOW = 64  # messages in flight per consumer, as async_impl's consumers


def subject(event: str) -> str:
    return SUBJECT_PREFIX + event


def event_of(subject_: str) -> str:
    return subject_.removeprefix(SUBJECT_PREFIX)


def durable(role: str) -> str:
    return f"bare-{role}"


def stream_config(replicas: int = 1) -> StreamConfig:
    # File storage: the stack's nats-server fsyncs every write, as it does for BLOG_EVENTS; as
    # many replicas as the stack's streams (R3 on a cluster: acknowledged once on a quorum).
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the bare chain's stream (idempotent: an identical stream is kept). Its consumers
    take the stream's replica count (a consumer's default)."""
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(stream_config(replicas))


async def delete_stream(js: JetStreamContext) -> None:
    try:
        await js.delete_stream(STREAM)
    except NotFoundError:
        pass


async def caught_up(js: JetStreamContext, timeout_s: float) -> bool:
    """True once every bare consumer has nothing pending or unacknowledged (three quiet rounds:
    a consumer's commit publishes the next event); True at once without the stream."""
    try:
        names = [info.name for info in await js.consumers_info(STREAM)]
    except NotFoundError:
        return True
    deadline = time.monotonic() + timeout_s
    quiet_rounds = 0
    while quiet_rounds < 3:
        if time.monotonic() > deadline:
            return False
        busy = False
        for name in names:
            info = await js.consumer_info(STREAM, name)
            busy = busy or bool(info.num_pending or info.num_ack_pending)
        quiet_rounds = 0 if busy else quiet_rounds + 1
        await asyncio.sleep(0.2)
    return True


class BareRelay:
    """Publishes the events handed over after their commit, concurrently in batches, then
    deletes their rows in one commit (async_impl.relay's fast path, without the sweep)."""

    def __init__(self, db: Database, js: JetStreamContext, table: str, batch: int = 256) -> None:
        self.db, self.js, self.table, self.batch = db, js, table, batch
        self._queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    def hand_over(self, event: str, row_id: int) -> None:
        self._queue.put_nowait((event, row_id))

    async def run(self) -> None:
        while True:
            pending = [await self._queue.get()]
            while not self._queue.empty() and len(pending) < self.batch:
                pending.append(self._queue.get_nowait())
            try:
                await asyncio.gather(
                    *(
                        self.js.publish(
                            subject(event),
                            PAYLOAD,
                            timeout=2.0,
                            headers={"Nats-Msg-Id": uuid.uuid4().hex},
                        )
                        for event, _ in pending
                    )
                )
                await self.db.execute(
                    f"DELETE FROM {self.table} WHERE id = ANY($1::bigint[])",
                    [row_id for _, row_id in pending],
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a floor, not a store: counted in the log, not retried
                log.warning("bare relay: %s: %s", type(error).__name__, error)


class BareConsumer:
    """One role's durable pull consumer of the events it consumes: a commit per event, then the
    ack, then the event it causes handed to its relay."""

    def __init__(
        self, role: str, nc: NATS, js: JetStreamContext, db: Database, table: str, relay: BareRelay
    ) -> None:
        self.role, self.nc, self.js, self.db = role, nc, js, db
        self.table, self.relay = table, relay

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=durable(self.role),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=sorted(subject(e) for e in consumed_by(self.role)),
            ack_wait=10.0,
            max_ack_pending=10_000,
        )

    async def run(self) -> None:
        try:
            await self.js.consumer_info(STREAM, durable(self.role))
        except NotFoundError:
            await self.js.add_consumer(STREAM, self.config())
        stream = PullStream(self.nc, STREAM, durable(self.role), window=WINDOW)
        await stream.open()
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                msg = await stream.next(len(in_flight))
                if msg is None:
                    continue
                task = asyncio.create_task(self.process(msg))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await stream.close()

    async def process(self, msg: Msg) -> None:
        event = event_of(msg.subject)
        try:
            row_id = await self.db.fetchval(
                f"INSERT INTO {self.table} (v) VALUES ('e') RETURNING id"
            )
        except Exception as error:  # redelivered after ack_wait
            log.warning("bare consumer %s: %s: %s", self.role, type(error).__name__, error)
            return
        await msg.ack()
        caused = CAUSED.get((self.role, event))
        if caused:
            self.relay.hand_over(caused, int(row_id))
