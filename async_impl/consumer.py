"""Durable, idempotent JetStream consumers with explicit acks and a dead-letter subject.

For each message: decode -> (optional work outside the transaction) -> one transaction that
records the event as processed AND applies its effect AND queues the events it causes ->
commit -> ack. A message seen before (same event id) is acked without effect.

Failures:
- our own database is down (Unavailable): nak with a short delay, stop pulling, probe the
  database every PROBE_S, and pull again the moment it answers. JetStream's max_deliver is
  unlimited: an outage must never drop an event. (Measured with the chaos experiment
  kill-db:comments: with naks backing off to 3.2 s instead, comments on posts created during
  the outage were still refused 1.1 s after the restore; see docs/METHOD.md.)
- a poison event (cannot be decoded or applied, ever): dead-lettered at once with the reason.
- any other error: retried with a delay; after `max_attempts` deliveries it is dead-lettered.
A dead letter is published to `dlq.<consumer>` before the message is terminated, so nothing is
lost; the consumer goes on with the next events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError

from async_impl import bus
from async_impl.outbox import queue_event
from async_impl.pull import PullStream
from async_impl.schema import PROCESSED
from blog.domain import InvalidArgument, Unavailable
from blog.events import IncomingEvent, OutgoingEvent, PoisonEvent, decode
from blog.rpc.metrics import Metrics
from blog.store.pool import Database, Executor
from blog.tracing.messages import consuming, step

log = logging.getLogger(__name__)

UNAVAILABLE_NAK_S = 0.25  # redelivery delay of an event our database could not take
PROBE_S = 0.1  # how often a paused consumer asks its database whether it is back

# Applies one event inside the transaction; returns the events it causes (queued in the outbox).
Handler = Callable[[Executor, IncomingEvent], Awaitable[Sequence[OutgoingEvent]]]


class DurableConsumer:
    """One service's durable pull consumer; replicas bind to the same one and share its work."""

    def __init__(
        self,
        name: str,
        *,
        js: JetStreamContext,
        db: Database,
        handlers: Mapping[str, Handler],
        metrics: Metrics,
        publishes: bool = False,
        on_commit: Callable[[list[OutgoingEvent]], None] = lambda events: None,
        before: Callable[[IncomingEvent], Awaitable[None]] | None = None,
        after: Callable[[IncomingEvent], None] | None = None,
        nc: NATS | None = None,
        window: int = 64,
        max_attempts: int = 5,
        replicas: int = 1,
    ) -> None:
        self.name = name
        self.js, self.db = js, db
        self.handlers = handlers
        self.metrics = metrics
        self.publishes = publishes
        self.on_commit = on_commit
        self.before = before
        self.after = after
        self.nc = nc
        self.window = window
        self.max_attempts = max_attempts
        self.replicas = replicas  # as many as the stream's: its position survives what it does
        self._task: asyncio.Task[None] | None = None
        self._database_up = asyncio.Event()
        self._database_up.set()

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=sorted(self.handlers),
            # Redelivery bound for a message delivered but never acked (e.g. to a replica that
            # stopped). Handlers take milliseconds, and a stalled database statement is cut by
            # the pool's command timeout (twice --db-timeout-s: 4 s by default;
            # blog/store/pool.py), so a live replica acks or naks well within it.
            ack_wait=10.0,
            max_deliver=-1,  # see the module docstring: poison is bounded by us, not here
            max_ack_pending=10_000,
            num_replicas=self.replicas,
        )

    async def ensure(self) -> None:
        """Create the durable consumer if it does not exist; one with another replica count
        (e.g. R1 from before the stream became R3) is updated in place. Its position is kept."""
        try:
            info = await self.js.consumer_info(bus.EVENTS, self.name)
        except NotFoundError:
            await self.js.add_consumer(bus.EVENTS, self.config())
            return
        if replica_count(info) != self.replicas:
            await self.js.add_consumer(bus.EVENTS, self.config())  # create-or-update

    async def reset(self) -> None:
        """Forget the position: the next run replays the stream from its first event."""
        try:
            await self.js.delete_consumer(bus.EVENTS, self.name)
        except NotFoundError:
            pass
        await self.js.add_consumer(bus.EVENTS, self.config())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        assert self.nc is not None, "a consumer that runs needs its NATS connection (nc=)"
        backoff = 0.1
        while True:
            stream = PullStream(self.nc, bus.EVENTS, self.name, window=self.window)
            try:
                await self.ensure()
                await stream.open()
                backoff = 0.1
                await self._consume(stream)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("consumer %s: %s; retrying in %.1fs", self.name, error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                await _quietly(stream.close())

    async def _consume(self, stream: PullStream) -> None:
        """Process each message the moment it arrives, at most `window` at a time."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self._database_up.is_set():
                    await self._await_database()
                msg = await stream.next(len(in_flight))
                if msg is None:
                    continue
                delay = datetime.now(UTC) - msg.metadata.timestamp  # stream publish -> here
                self.metrics.record_us("delivery_delay_us", delay.total_seconds() * 1e6)
                task = asyncio.create_task(self._process_traced(msg, time.time_ns()))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(self._log_failure)
        finally:
            for task in in_flight:  # stopping: unacked messages are redelivered after ack_wait
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _await_database(self) -> None:
        """Pull nothing while our own database is down: probe it, resume the moment it answers
        (the events we nakked come back after UNAVAILABLE_NAK_S, long elapsed by then)."""
        started = time.monotonic()
        log.warning(
            "consumer %s: own database down; pausing, probing every %ss", self.name, PROBE_S
        )
        while True:
            try:
                await self.db.fetchval("SELECT 1")
                break
            except Unavailable:
                await asyncio.sleep(PROBE_S)
        self._database_up.set()
        log.warning(
            "consumer %s: database back after %.2fs; resuming",
            self.name,
            time.monotonic() - started,
        )

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        """process() handles every failure of an event; what escapes it (an ack or term the bus
        refused) is logged here, and the message is redelivered after ack_wait."""
        if not task.cancelled() and task.exception() is not None:
            log.warning("consumer %s: %r", self.name, task.exception())

    async def _process_traced(self, msg: Msg, received_ns: int) -> None:
        """process(), in a CONSUMER span when the message carries a traced request's context."""
        delivered = msg.metadata.num_delivered
        with consuming(self.name, msg.subject, msg.headers, received_ns, delivered):
            await self.process(msg)

    async def process(self, msg: Msg) -> None:
        delivered = msg.metadata.num_delivered
        try:
            event = decode(msg.data)
            if event.event_type != msg.subject:
                raise PoisonEvent(f"event type {event.event_type} sent on subject {msg.subject}")
            handler = self.handlers.get(event.event_type)
            if handler is None:
                raise PoisonEvent(f"no handler for {event.event_type}")
            if self.before:
                await self.before(event)
            with step(f"apply {event.event_type}"):  # the transaction, as a span when traced
                applied, caused = await self._apply(handler, event)
        except Unavailable as error:
            self.metrics.inc("events_nak_unavailable")
            self._database_up.clear()  # _consume stops pulling until the database answers
            await msg.nak(delay=UNAVAILABLE_NAK_S)
            log.debug("nak %s: %s", msg.subject, error)
            return
        except (PoisonEvent, InvalidArgument) as error:  # invalid content: never applicable
            await self.dead_letter(msg, f"poison: {error}")
            return
        except Exception as error:
            if delivered >= self.max_attempts:
                await self.dead_letter(
                    msg, f"failed {delivered} times: {type(error).__name__}: {error}"
                )
            else:
                log.exception("consumer %s: error on delivery %d", self.name, delivered)
                self.metrics.inc("events_retried")
                await msg.nak(delay=0.2 * delivered)
            return
        await msg.ack()  # after commit: a lost ack means a redelivery, which is a no-op
        if caused:
            self.on_commit(caused)
        if applied:
            self.metrics.inc("events_applied")
            if self.after:
                self.after(event)
        else:
            self.metrics.inc("events_duplicate")

    async def _apply(
        self, handler: Handler, event: IncomingEvent
    ) -> tuple[bool, list[OutgoingEvent]]:
        async with self.db.transaction() as conn:
            first_time = await conn.fetchval(
                f"INSERT INTO {PROCESSED} (consumer, event_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true",
                self.name,
                event.event_id,
            )
            if first_time is None:
                return False, []
            caused = list(await handler(conn, event))
            if caused:
                assert self.publishes, f"{self.name} has no outbox for the events it causes"
                for out in caused:
                    await queue_event(conn, out)
        return True, caused

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        meta = msg.metadata
        headers = {
            bus.H_REASON: reason[:1000],
            bus.H_CONSUMER: self.name,
            bus.H_SUBJECT: msg.subject,
            bus.H_SEQ: str(meta.sequence.stream),
            bus.H_DELIVERED: str(meta.num_delivered),
            "Nats-Msg-Id": f"{self.name}:{meta.sequence.stream}",
        }
        try:
            await self.js.publish(bus.dlq_subject(self.name), msg.data, headers=headers, timeout=2)
        except Exception as error:  # cannot park it: keep it in the stream and try later
            log.warning("consumer %s: dead-letter publish failed (%s); nak", self.name, error)
            await msg.nak(delay=1.0)
            return
        await msg.term()
        self.metrics.inc("events_dead_lettered")
        log.warning(
            "consumer %s: dead-lettered seq %s: %s", self.name, meta.sequence.stream, reason
        )


def replica_count(info: ConsumerInfo) -> int:
    """A consumer's replicas: as configured, or (0) as many as its stream's peers say."""
    if info.config.num_replicas:
        return info.config.num_replicas
    return 1 + len(info.cluster.replicas or []) if info.cluster else 1


def lag_us(event: IncomingEvent) -> float:
    """Microseconds from the event's occurrence to now (the time it became visible)."""
    return (datetime.now(UTC) - event.occurred_at).total_seconds() * 1e6


async def _quietly(closing: Coroutine[Any, Any, None]) -> None:
    try:
        await closing
    except Exception as error:  # already closed with the connection
        log.debug("closing a pull stream: %s", error)
