"""Unit tests of async_impl.consumer.DurableConsumer.process: what it does with one delivered
message (commit then ack, duplicate, nak, dead letter then term), on fakes (tests/fakes.py)
that log every effect in order. Events are real lab.events envelopes, so decoding is real."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from async_impl import bus
from async_impl import consumer as consumer_module
from async_impl.consumer import DurableConsumer, Handler
from async_impl.schema import OUTBOX, PROCESSED
from blog import events
from blog.domain import CommentStatus, Decision, InvalidArgument, Post, Unavailable
from blog.events import IncomingEvent, OutgoingEvent, PoisonEvent
from blog.rpc.metrics import Metrics
from blog.store.pool import Database
from tests.fakes import FakeConnection, FakeDatabase, FakeJetStream, FakeMsg, Log, Recorder, until

NAME = "moderation"
DLQ = f"dlq.{NAME}"
EFFECT = "INSERT INTO effects (event_id) VALUES ($1)"


def post_created() -> OutgoingEvent:
    post = Post(str(uuid.uuid4()), "a title", "a body", datetime.now(UTC))
    return events.post_created(post)


def comment_moderated() -> OutgoingEvent:
    decision = Decision(CommentStatus.APPROVED)
    return events.comment_moderated(str(uuid.uuid4()), str(uuid.uuid4()), decision)


def handler(
    log: Log, caused: Sequence[OutgoingEvent] = (), error: Exception | None = None
) -> Handler:
    """A handler that logs its call, applies an effect on the connection it is given (a
    statement), then raises `error` or returns `caused`."""

    async def handle(conn: FakeConnection, event: IncomingEvent) -> list[OutgoingEvent]:
        log.add("handler", event.event_id, conn.in_transaction)
        await conn.execute(EFFECT, event.event_id)
        if error is not None:
            raise error
        return list(caused)

    return cast(Handler, handle)


@dataclass
class Rig:
    """One consumer on fakes that share a log."""

    log: Log = field(default_factory=Log)
    metrics: Metrics = field(default_factory=lambda: Metrics(NAME))

    def __post_init__(self) -> None:
        self.js = FakeJetStream(self.log)
        self.db = FakeDatabase(self.log)
        self.on_commit = Recorder(self.log, "on_commit")
        self.after = Recorder(self.log, "after")

    def consumer(
        self, handlers: dict[str, Handler] | None = None, **options: Any
    ) -> DurableConsumer:
        if handlers is None:
            handlers = {events.POST_CREATED: handler(self.log)}
        return DurableConsumer(
            NAME,
            js=cast(JetStreamContext, self.js),
            db=cast(Database, self.db),
            handlers=handlers,
            metrics=self.metrics,
            publishes=True,
            on_commit=self.on_commit,
            after=self.after,
            **options,
        )

    def msg(self, event: OutgoingEvent, **options: Any) -> FakeMsg:
        return FakeMsg(self.log, event.data, event.subject, **options)

    def process(self, consumer: DurableConsumer, msg: FakeMsg) -> None:
        asyncio.run(consumer.process(cast(Msg, msg)))

    def counter(self, name: str) -> int:
        return self.metrics.counters.get(name, 0)

    def nak_delay(self) -> float:
        (nak,) = self.log.of("nak")
        delay = nak[1]
        assert isinstance(delay, float | int)
        return float(delay)


@pytest.fixture
def rig() -> Rig:
    return Rig()


# -- (a) a new event ----------------------------------------------------------------------------
class TestNewEvent:
    def test_effect_and_processed_mark_commit_then_ack_then_caused_events_go_out(
        self, rig: Rig
    ) -> None:
        event, caused = post_created(), comment_moderated()
        consumer = rig.consumer({events.POST_CREATED: handler(rig.log, caused=[caused])})

        rig.process(consumer, rig.msg(event))

        assert rig.log.names() == [
            "begin",
            "fetchval",  # the processed-event mark
            "handler",
            "execute",  # the handler's effect
            "execute",  # the caused event, queued in the outbox
            "commit",
            "ack",  # after the commit: a lost ack means a redelivery, a no-op
            "on_commit",  # after the ack: the relay's fast path gets the caused events
            "after",
        ]
        (mark,) = rig.log.of("fetchval")
        assert f"INSERT INTO {PROCESSED}" in mark[1] and "RETURNING" in mark[1]
        assert mark[2] == (NAME, event.event_id)
        assert rig.log.of("handler") == [("handler", event.event_id, True)]  # in the transaction
        effect, queued = rig.log.of("execute")
        assert effect[1:] == (EFFECT, (event.event_id,))
        assert f"INSERT INTO {OUTBOX}" in queued[1]
        assert queued[2] == (caused.event_id, caused.subject, caused.data, caused.traceparent)
        assert rig.on_commit.calls == [([caused],)]
        assert [call[0].event_id for call in rig.after.calls] == [event.event_id]
        assert rig.counter("events_applied") == 1
        assert not rig.js.published

    def test_without_caused_events_on_commit_is_not_called(self, rig: Rig) -> None:
        rig.process(rig.consumer(), rig.msg(post_created()))

        assert rig.log.names() == [
            "begin",
            "fetchval",
            "handler",
            "execute",
            "commit",
            "ack",
            "after",
        ]

    def test_before_runs_first_outside_the_transaction(self, rig: Rig) -> None:
        async def before(event: IncomingEvent) -> None:
            rig.log.add("before", event.event_id)

        event = post_created()
        rig.process(rig.consumer(before=before), rig.msg(event))

        assert rig.log.names()[:2] == ["before", "begin"]
        assert rig.log.calls[0] == ("before", event.event_id)
        assert rig.log.index("commit") < rig.log.index("ack")


# -- (b) a duplicate ----------------------------------------------------------------------------
def test_duplicate_is_acked_without_effect(rig: Rig) -> None:
    rig.db.fetchval_result = None  # INSERT ... ON CONFLICT DO NOTHING RETURNING: no row
    consumer = rig.consumer({events.POST_CREATED: handler(rig.log, caused=[comment_moderated()])})

    rig.process(consumer, rig.msg(post_created(), num_delivered=2))

    assert rig.log.names() == ["begin", "fetchval", "commit", "ack"]
    assert rig.on_commit.calls == [] and rig.after.calls == []
    assert rig.counter("events_duplicate") == 1 and rig.counter("events_applied") == 0


# -- (c) own database down ----------------------------------------------------------------------
class TestDatabaseDown:
    def test_nak_with_delay_when_the_database_cannot_be_reached(self, rig: Rig) -> None:
        rig.db.unavailable = True

        rig.process(rig.consumer(), rig.msg(post_created()))

        assert rig.log.names() == ["unavailable", "nak"]
        assert rig.nak_delay() > 0
        assert rig.counter("events_nak_unavailable") == 1

    def test_lost_mid_transaction_rolls_back_and_naks(self, rig: Rig) -> None:
        rig.db.fail_on[PROCESSED] = Unavailable("fake database", "connection reset")

        rig.process(rig.consumer(), rig.msg(post_created()))

        assert rig.log.names() == ["begin", "fetchval", "rollback", "nak"]

    def test_failed_commit_is_not_acked(self, rig: Rig) -> None:
        rig.db.fail_commit = Unavailable("fake database", "connection reset")
        consumer = rig.consumer(
            {events.POST_CREATED: handler(rig.log, caused=[comment_moderated()])}
        )

        rig.process(consumer, rig.msg(post_created()))

        assert rig.log.names()[-2:] == ["commit-failed", "nak"]
        assert "ack" not in rig.log.names() and rig.on_commit.calls == []

    def test_short_fixed_delay_and_pulling_pauses_until_the_database_answers(self) -> None:
        delays = []
        for delivered in (1, 2, 5, 50):
            rig = Rig()
            rig.db.unavailable = True
            consumer = rig.consumer()
            rig.process(consumer, rig.msg(post_created(), num_delivered=delivered))
            delays.append(rig.nak_delay())
            assert not consumer._database_up.is_set()  # _consume pulls nothing now

        assert delays == [consumer_module.UNAVAILABLE_NAK_S] * 4
        assert 0 < consumer_module.UNAVAILABLE_NAK_S <= 0.5

    def test_resumes_as_soon_as_the_database_answers(self, rig: Rig) -> None:
        rig.db.unavailable = True
        consumer = rig.consumer()
        rig.process(consumer, rig.msg(post_created()))

        async def back_after_three_probes() -> None:
            waiting = asyncio.create_task(consumer._await_database())
            await until(lambda: len(rig.log.of("unavailable")) >= 3)  # one per probe
            assert not waiting.done()
            rig.db.unavailable = False
            await asyncio.wait_for(waiting, timeout=1.0)

        asyncio.run(back_after_three_probes())
        assert consumer._database_up.is_set()

    def test_never_dead_lettered_however_many_deliveries(self, rig: Rig) -> None:
        rig.db.unavailable = True

        rig.process(rig.consumer(max_attempts=5), rig.msg(post_created(), num_delivered=1000))

        assert rig.log.names() == ["unavailable", "nak"]
        assert not rig.js.published


# -- (d) poison ---------------------------------------------------------------------------------
def undecodable(rig: Rig) -> tuple[DurableConsumer, FakeMsg, str]:
    msg = FakeMsg(rig.log, b"not an envelope", events.POST_CREATED)
    return rig.consumer(), msg, "not an Envelope"


def wrong_subject(rig: Rig) -> tuple[DurableConsumer, FakeMsg, str]:
    event = post_created()
    handlers = {events.POST_CREATED: handler(rig.log), events.COMMENT_CREATED: handler(rig.log)}
    msg = FakeMsg(rig.log, event.data, events.COMMENT_CREATED)
    return rig.consumer(handlers), msg, "sent on subject"


def no_handler(rig: Rig) -> tuple[DurableConsumer, FakeMsg, str]:
    consumer = rig.consumer({events.COMMENT_CREATED: handler(rig.log)})
    return consumer, rig.msg(post_created()), "no handler"


def handler_poison(rig: Rig) -> tuple[DurableConsumer, FakeMsg, str]:
    bad = handler(rig.log, error=PoisonEvent("status 7 is not final"))
    return rig.consumer({events.POST_CREATED: bad}), rig.msg(post_created()), "not final"


def handler_invalid(rig: Rig) -> tuple[DurableConsumer, FakeMsg, str]:
    bad = handler(rig.log, error=InvalidArgument("title", "too long"))
    return rig.consumer({events.POST_CREATED: bad}), rig.msg(post_created()), "too long"


POISON = [undecodable, wrong_subject, no_handler, handler_poison, handler_invalid]


@pytest.mark.parametrize("case", POISON, ids=lambda case: case.__name__)
def test_poison_is_dead_lettered_then_terminated(
    rig: Rig, case: Callable[[Rig], tuple[DurableConsumer, FakeMsg, str]]
) -> None:
    consumer, msg, why = case(rig)
    msg.metadata.num_delivered = 1  # at once: poison is never retried

    rig.process(consumer, msg)

    names = rig.log.names()
    assert names[-2:] == ["publish", "term"], names  # parked first, then dropped from the stream
    assert "ack" not in names and "nak" not in names and "commit" not in names
    if "begin" in names:  # the handler's effect is rolled back
        assert names.index("rollback") < names.index("publish")
    (published,) = rig.js.published
    assert published.subject == DLQ
    assert published.data == msg.data
    assert published.headers is not None
    assert published.headers[bus.H_REASON].startswith("poison: ")
    assert why in published.headers[bus.H_REASON]
    assert published.headers[bus.H_CONSUMER] == NAME
    assert published.headers[bus.H_SUBJECT] == msg.subject
    assert rig.counter("events_dead_lettered") == 1
    assert rig.on_commit.calls == [] and rig.after.calls == []


def test_dead_letter_carries_the_reason_headers(rig: Rig) -> None:
    msg = rig.msg(post_created(), num_delivered=3, stream_seq=42)

    asyncio.run(rig.consumer().dead_letter(cast(Msg, msg), "x" * 5000))

    assert rig.log.names() == ["publish", "term"]
    (published,) = rig.js.published
    assert published.subject == DLQ and published.data == msg.data
    assert published.headers == {
        bus.H_REASON: "x" * 1000,
        bus.H_CONSUMER: NAME,
        bus.H_SUBJECT: events.POST_CREATED,
        bus.H_SEQ: "42",
        bus.H_DELIVERED: "3",
        "Nats-Msg-Id": f"{NAME}:42",  # a repeated dead letter of the same message is dropped
    }


# -- (e) the dead-letter publish fails ----------------------------------------------------------
@pytest.mark.parametrize("case", [undecodable, handler_poison], ids=lambda case: case.__name__)
def test_poison_is_naked_when_the_dead_letter_cannot_be_published(
    rig: Rig, case: Callable[[Rig], tuple[DurableConsumer, FakeMsg, str]]
) -> None:
    rig.js.fail = OSError("bus down")
    consumer, msg, _ = case(rig)

    rig.process(consumer, msg)

    names = rig.log.names()
    assert names[-2:] == ["publish-failed", "nak"], names
    assert "term" not in names and "ack" not in names
    assert rig.nak_delay() > 0
    assert rig.counter("events_dead_lettered") == 0


def test_dead_letter_naks_when_its_publish_fails(rig: Rig) -> None:
    rig.js.fail = TimeoutError()
    msg = rig.msg(post_created())

    asyncio.run(rig.consumer().dead_letter(cast(Msg, msg), "poison: test"))

    assert rig.log.names() == ["publish-failed", "nak"]
    assert rig.nak_delay() > 0


# -- (f) any other error ------------------------------------------------------------------------
def failing(rig: Rig) -> DurableConsumer:
    bad = handler(rig.log, error=RuntimeError("boom"))
    return rig.consumer({events.POST_CREATED: bad}, max_attempts=5)


@pytest.mark.parametrize("delivered", [1, 2, 4])
def test_other_error_is_retried_with_a_delay_before_max_attempts(rig: Rig, delivered: int) -> None:
    rig.process(failing(rig), rig.msg(post_created(), num_delivered=delivered))

    assert rig.log.names() == ["begin", "fetchval", "handler", "execute", "rollback", "nak"]
    assert rig.nak_delay() > 0
    assert not rig.js.published
    assert rig.counter("events_retried") == 1


@pytest.mark.parametrize("delivered", [5, 6, 50])
def test_other_error_is_dead_lettered_at_max_attempts(rig: Rig, delivered: int) -> None:
    msg = rig.msg(post_created(), num_delivered=delivered)

    rig.process(failing(rig), msg)

    names = rig.log.names()
    assert names == ["begin", "fetchval", "handler", "execute", "rollback", "publish", "term"]
    (published,) = rig.js.published
    assert published.subject == DLQ and published.data == msg.data
    assert published.headers is not None
    assert published.headers[bus.H_REASON] == f"failed {delivered} times: RuntimeError: boom"
    assert published.headers[bus.H_DELIVERED] == str(delivered)


def test_other_error_at_max_attempts_naks_when_the_dead_letter_fails(rig: Rig) -> None:
    rig.js.fail = OSError("bus down")

    rig.process(failing(rig), rig.msg(post_created(), num_delivered=5))

    assert rig.log.names()[-2:] == ["publish-failed", "nak"]
    assert "term" not in rig.log.names()
