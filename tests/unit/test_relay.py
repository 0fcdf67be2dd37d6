"""Unit tests of async_impl.relay.OutboxRelay: outbox rows are deleted only after JetStream
acknowledged their events, on the fast path and in the sweep; a failed publish keeps them. On
fakes (tests/fakes.py) that log every effect in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from nats.js import JetStreamContext

from async_impl.relay import OutboxRelay
from async_impl.schema import OUTBOX
from blog import events
from blog.domain import CommentStatus, Decision, Post, Unavailable
from blog.events import OutgoingEvent
from blog.rpc.metrics import Metrics
from blog.store.pool import Database
from tests.fakes import Call, FakeDatabase, FakeJetStream, Log, outbox_row, until


def post_created() -> OutgoingEvent:
    post = Post(str(uuid.uuid4()), "a title", "a body", datetime.now(UTC))
    return events.post_created(post)


def comment_moderated() -> OutgoingEvent:
    decision = Decision(CommentStatus.REJECTED, "spam")
    return events.comment_moderated(str(uuid.uuid4()), str(uuid.uuid4()), decision)


class Rig:
    """One relay on fakes that share a log."""

    def __init__(self) -> None:
        self.log = Log()
        self.js = FakeJetStream(self.log)
        self.db = FakeDatabase(self.log)
        self.metrics = Metrics("posts")

    def relay(self, **options: Any) -> OutboxRelay:
        return OutboxRelay(
            cast(Database, self.db), cast(JetStreamContext, self.js), self.metrics, **options
        )

    def deletes(self) -> list[Call]:
        return [call for call in self.log.of("execute") if call[1].startswith("DELETE")]

    def published_ids(self) -> list[str]:
        return [p.headers["Nats-Msg-Id"] for p in self.js.published if p.headers]

    def counter(self, name: str) -> int:
        return self.metrics.counters.get(name, 0)


@pytest.fixture
def rig() -> Rig:
    return Rig()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


# -- the sweep ----------------------------------------------------------------------------------
class TestSweep:
    def test_publishes_old_rows_then_deletes_them_in_one_transaction(self, rig: Rig) -> None:
        first, second = post_created(), post_created()
        rig.db.fetch_results = [[outbox_row(7, first), outbox_row(9, second)]]
        relay = rig.relay(batch=50, sweep_grace_s=1.5)

        assert asyncio.run(relay.sweep()) == 2

        assert rig.log.names() == ["begin", "fetch", "publish", "publish", "execute", "commit"]
        (select,) = rig.log.of("fetch")
        assert f"FROM {OUTBOX}" in select[1]
        assert "created_at < now() - $1::interval" in select[1]
        assert "FOR UPDATE SKIP LOCKED" in select[1]
        assert select[2] == (timedelta(seconds=1.5), 50)  # older than the grace, at most a batch
        assert [(p.subject, p.data, p.headers) for p in rig.js.published] == [
            (e.subject, e.data, {"Nats-Msg-Id": e.event_id}) for e in (first, second)
        ]
        assert rig.deletes() == [
            ("execute", f"DELETE FROM {OUTBOX} WHERE id = ANY($1::bigint[])", ([7, 9],))
        ]
        assert rig.counter("events_swept") == 2

    def test_grace_can_be_given(self, rig: Rig) -> None:
        asyncio.run(rig.relay(batch=8).sweep(grace_s=0))

        assert rig.log.of("fetch")[0][2] == (timedelta(0), 8)

    def test_nothing_to_sweep(self, rig: Rig) -> None:
        assert asyncio.run(rig.relay().sweep()) == 0

        assert rig.log.names() == ["begin", "fetch", "commit"]
        assert not rig.js.published

    def test_publish_failure_deletes_nothing(self, rig: Rig) -> None:
        ok, failing = post_created(), comment_moderated()
        rig.db.fetch_results = [[outbox_row(1, ok), outbox_row(2, failing)]]
        rig.js.fail = OSError("bus down")
        rig.js.fail_subjects = {failing.subject}

        with pytest.raises(OSError):
            asyncio.run(rig.relay().sweep())

        assert rig.deletes() == []
        assert rig.log.names()[-1] == "rollback"
        assert "commit" not in rig.log.names()
        assert rig.counter("events_swept") == 0

    def test_one_failed_publish_of_many_deletes_nothing(self, rig: Rig) -> None:
        rows = [outbox_row(i, post_created()) for i in range(1, 6)]
        rig.db.fetch_results = [rows]

        async def scenario() -> None:
            rig.js.hold = asyncio.Event()
            sweep = asyncio.create_task(rig.relay().sweep())
            await until(lambda: rig.js.in_flight == 5)
            assert rig.deletes() == []  # nothing deleted while the publishes are in flight
            rig.js.fail, rig.js.fail_subjects = OSError("timeout"), set()
            rig.js.hold.set()
            with pytest.raises(OSError):
                await sweep

        run(scenario)

        assert rig.deletes() == [] and rig.log.names()[-1] == "rollback"

    def test_failed_delete_rolls_back(self, rig: Rig) -> None:
        rig.db.fetch_results = [[outbox_row(1, post_created())]]
        rig.db.fail_on["DELETE"] = Unavailable("fake database", "connection reset")

        with pytest.raises(Unavailable):
            asyncio.run(rig.relay().sweep())

        assert rig.log.names() == ["begin", "fetch", "publish", "execute", "rollback"]


# -- the fast path ------------------------------------------------------------------------------
class TestFastPath:
    def test_deletes_rows_only_after_the_stream_acknowledged(self, rig: Rig) -> None:
        handed = [post_created(), post_created()]

        async def scenario() -> None:
            relay = rig.relay(sweep_interval_s=3600)  # one empty sweep at start, then none
            rig.js.hold = asyncio.Event()
            relay.start()
            try:
                relay.published_later(handed)
                await until(lambda: rig.js.in_flight == 2)
                await asyncio.sleep(0.01)
                assert rig.deletes() == []  # not while the publishes wait for their ack
                rig.js.hold.set()
                await until(lambda: bool(rig.deletes()))
            finally:
                await relay.stop()

        run(scenario)

        ids = [e.event_id for e in handed]
        assert rig.deletes() == [
            ("execute", f"DELETE FROM {OUTBOX} WHERE event_id = ANY($1::uuid[])", (ids,))
        ]
        names = rig.log.names()
        last_publish = len(names) - 1 - names[::-1].index("publish")
        assert last_publish < names.index("execute")  # the delete follows both acks
        assert [(p.subject, p.data, p.headers) for p in rig.js.published] == [
            (e.subject, e.data, {"Nats-Msg-Id": e.event_id}) for e in handed
        ]
        assert rig.counter("events_published") == 2

    def test_failed_publish_keeps_the_rows_and_stops_handing_until_a_sweep_succeeds(
        self, rig: Rig
    ) -> None:
        e1, e2, e3, e4 = (post_created() for _ in range(4))

        async def scenario() -> None:
            rig.db.hold_fetch = asyncio.Event()  # each sweep waits in its SELECT for a step
            relay = rig.relay(sweep_interval_s=0.001)
            relay.start()
            try:
                await until(lambda: len(rig.log.of("fetch")) == 1)

                # The bus is down: the fast path's publish fails, the row stays.
                rig.js.fail = OSError("bus down")
                relay.published_later([e1])
                await until(lambda: len(rig.log.of("publish-failed")) == 1)
                await asyncio.sleep(0.01)
                assert rig.deletes() == []
                assert rig.counter("outbox_publish_failures") == 1

                # Handing is off: e2 is left to the sweep even once the bus is back.
                rig.js.fail = None
                relay.published_later([e2])
                await asyncio.sleep(0.01)
                assert rig.js.published == [] and len(rig.log.of("publish-failed")) == 1

                # A sweep that fails (the bus is down again) does not turn handing back on.
                rig.js.fail = OSError("bus down")
                rig.db.fetch_results = [[outbox_row(1, e1), outbox_row(2, e2)]]
                rig.db.release_fetch()
                await until(lambda: len(rig.log.of("fetch")) == 2)
                assert rig.deletes() == [] and "rollback" in rig.log.names()
                rig.js.fail = None
                relay.published_later([e3])
                await asyncio.sleep(0.01)
                assert rig.js.published == []

                # A sweep that succeeds publishes the rows, deletes them, turns handing on.
                rig.db.fetch_results = [[outbox_row(1, e1), outbox_row(2, e2), outbox_row(3, e3)]]
                rig.db.release_fetch()
                await until(lambda: len(rig.log.of("fetch")) == 3)
                relay.published_later([e4])
                await until(lambda: len(rig.deletes()) == 2)
            finally:
                await relay.stop()

        run(scenario)

        assert rig.published_ids() == [e.event_id for e in (e1, e2, e3, e4)]
        swept, fast = rig.deletes()
        assert swept[2] == ([1, 2, 3],) and "WHERE id" in swept[1]
        assert fast[2] == ([e4.event_id],) and "WHERE event_id" in fast[1]

    def test_failed_delete_keeps_handing(self, rig: Rig) -> None:
        e1, e2 = post_created(), post_created()

        async def scenario() -> None:
            relay = rig.relay(sweep_interval_s=3600)
            relay.start()
            try:
                rig.db.fail_on["DELETE"] = Unavailable("fake database", "connection reset")
                relay.published_later([e1])
                await until(lambda: len(rig.deletes()) == 1)
                del rig.db.fail_on["DELETE"]
                relay.published_later([e2])  # the bus is fine: the fast path goes on
                await until(lambda: len(rig.deletes()) == 2)
            finally:
                await relay.stop()

        run(scenario)

        assert rig.published_ids() == [e1.event_id, e2.event_id]
