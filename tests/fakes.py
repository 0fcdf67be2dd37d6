"""Small in-memory stand-ins for a JetStream message, a JetStream context and a service's
Database, for unit tests of the async plumbing (async_impl.consumer, async_impl.relay), and for
the ports of the comment rule (blog.ports: a comment store, a post directory, moderation), for
unit tests of blog.features: no sockets, no processes.

The fakes of one test share a Log: one ordered list of what happened (begin, statements,
commit/rollback, publish, ack/nak/term, ...), so a test can assert the order of effects, e.g.
commit before ack, dead-letter publish before term.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from blog.domain import Comment, CommentStatus, Decision, Unavailable
from blog.events import OutgoingEvent

Call = tuple[Any, ...]


class Log:
    """What happened, in order: tuples whose first item names the call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def add(self, *call: Any) -> None:
        self.calls.append(call)

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def of(self, name: str) -> list[Call]:
        return [call for call in self.calls if call[0] == name]

    def index(self, name: str) -> int:
        """Position of the first call named `name` (ValueError when there is none)."""
        return self.names().index(name)

    def statements(self) -> list[str]:
        """The SQL of every statement run, in order."""
        return [call[1] for call in self.calls if call[0] in STATEMENTS]


STATEMENTS = ("execute", "fetch", "fetchrow", "fetchval")


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Let the event loop run until `condition` holds (AssertionError after `timeout_s`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


# -- JetStream message --------------------------------------------------------------------------
@dataclass
class FakeSequence:
    stream: int
    consumer: int


@dataclass
class FakeMetadata:
    num_delivered: int
    sequence: FakeSequence


class FakeMsg:
    """A delivered JetStream message: data, subject, metadata; ack/nak/term go to the log."""

    def __init__(
        self, log: Log, data: bytes, subject: str, *, num_delivered: int = 1, stream_seq: int = 1
    ) -> None:
        self.log = log
        self.data = data
        self.subject = subject
        self.metadata = FakeMetadata(num_delivered, FakeSequence(stream_seq, stream_seq))

    async def ack(self) -> None:
        self.log.add("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.log.add("nak", delay)

    async def term(self) -> None:
        self.log.add("term")


# -- JetStream context --------------------------------------------------------------------------
@dataclass
class Published:
    subject: str
    data: bytes
    headers: dict[str, str] | None
    timeout: float | None


@dataclass
class FakePubAck:
    stream: str
    seq: int
    duplicate: bool = False


class FakeJetStream:
    """js.publish: logs ("publish", subject, data, headers) once the stream acknowledged it, or
    ("publish-failed", subject) and raises `fail` when set. While `hold` is set, publishes wait
    for it (then check `fail`): `in_flight` counts them."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.fail: BaseException | None = None
        self.fail_subjects: set[str] = set()  # fail only these (when `fail` is set); empty: all
        self.hold: asyncio.Event | None = None
        self.in_flight = 0
        self.published: list[Published] = []

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> FakePubAck:
        self.in_flight += 1
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.fail is not None and (not self.fail_subjects or subject in self.fail_subjects):
                self.log.add("publish-failed", subject)
                raise self.fail
            self.published.append(Published(subject, payload, headers, timeout))
            self.log.add("publish", subject, payload, headers)
            return FakePubAck(stream or "BLOG_EVENTS", len(self.published))
        finally:
            self.in_flight -= 1


# -- Database -----------------------------------------------------------------------------------
class FakeConnection:
    """A connection of the FakeDatabase: statements go to the log as (kind, sql, args)."""

    def __init__(self, db: FakeDatabase, *, in_transaction: bool) -> None:
        self.db = db
        self.in_transaction = in_transaction

    async def _run(self, kind: str, query: str, args: tuple[Any, ...]) -> None:
        self.db.log.add(kind, query, args)
        for text, error in self.db.fail_on.items():
            if text in query:
                raise error
        if kind == "fetch" and self.db.hold_fetch is not None:
            await self.db.hold_fetch.wait()

    async def execute(self, query: str, *args: Any) -> str:
        await self._run("execute", query, args)
        return "OK"

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        await self._run("fetch", query, args)
        return self.db.fetch_results.pop(0) if self.db.fetch_results else []

    async def fetchrow(self, query: str, *args: Any) -> Any:
        await self._run("fetchrow", query, args)
        return None

    async def fetchval(self, query: str, *args: Any) -> Any:
        await self._run("fetchval", query, args)
        return self.db.fetchval_result


class FakeDatabase:
    """Stands in for lab.store.pool.Database.

    transaction(): logs "begin", yields a FakeConnection, logs "commit" when the block ends
    normally (raising `fail_commit` instead, after logging "commit-failed", when set) or
    "rollback" when it raises. connect(): a connection whose statements commit by themselves.
    `unavailable`: connect()/transaction() raise Unavailable before anything happens.
    `fail_on`: a statement containing the key raises the value (after being logged).
    `fetchval_result`: what fetchval returns (the processed-event INSERT ... RETURNING true:
    True the first time, None for a duplicate). `fetch_results`: one list of rows per fetch, in
    order ([] once used up). `hold_fetch`: fetches wait for this event.
    """

    def __init__(self, log: Log, name: str = "fake database") -> None:
        self.log = log
        self.name = name
        self.unavailable = False
        self.fail_on: dict[str, BaseException] = {}
        self.fail_commit: BaseException | None = None
        self.fetchval_result: Any = True
        self.fetch_results: list[list[Any]] = []
        self.hold_fetch: asyncio.Event | None = None

    def release_fetch(self) -> None:
        """Let the fetches waiting on `hold_fetch` go on; later fetches wait again."""
        assert self.hold_fetch is not None
        self.hold_fetch.set()
        self.hold_fetch.clear()

    def _check(self) -> None:
        if self.unavailable:
            self.log.add("unavailable")
            raise Unavailable(self.name, "connection refused")

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[FakeConnection]:
        self._check()
        self.log.add("connect")
        yield FakeConnection(self, in_transaction=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeConnection]:
        self._check()
        self.log.add("begin")
        try:
            yield FakeConnection(self, in_transaction=True)
        except BaseException:
            self.log.add("rollback")
            raise
        if self.fail_commit is not None:
            self.log.add("commit-failed")
            raise self.fail_commit
        self.log.add("commit")

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connect() as conn:
            return await conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.connect() as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchval(query, *args)


def outbox_row(row_id: int, event: OutgoingEvent, age_s: float = 5.0) -> dict[str, Any]:
    """A row of the outbox as the relay's sweep SELECT returns it."""
    return {
        "id": row_id,
        "event_id": event.event_id,
        "subject": event.subject,
        "data": event.data,
        "created_at": datetime.now(UTC) - timedelta(seconds=age_s),
        "traceparent": event.traceparent,
    }


@dataclass
class Recorder:
    """A callable that logs its calls (e.g. a consumer's on_commit or after hook)."""

    log: Log
    name: str
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)
        self.log.add(self.name, *args)


def async_recorder(log: Log, name: str) -> Callable[..., Awaitable[None]]:
    """An async callable that logs its calls (e.g. a consumer's before hook)."""

    async def record(*args: Any) -> None:
        log.add(name, *args)

    return record


# -- the ports of the comment rule (blog.ports) -------------------------------------------------
class FakeCommentStore:
    """A CommentStore over a dict, idempotent per request_id as the real one is: a request_id
    already used gives back the comment stored under it, not inserted again."""

    def __init__(self) -> None:
        self.comments: dict[str, Comment] = {}
        self.by_request: dict[str, str] = {}

    async def add(
        self, comment: Comment, request_id: str | None = None
    ) -> tuple[Comment | None, bool]:
        if request_id is not None and request_id in self.by_request:
            return self.comments[self.by_request[request_id]], False
        self.comments[comment.id] = comment
        if request_id is not None:
            self.by_request[request_id] = comment.id
        return comment, True

    async def settle(self, comment_id: str, status: CommentStatus) -> tuple[Comment | None, bool]:
        raise NotImplementedError

    async def list_for_posts(self, post_ids: Sequence[str]) -> list[Comment]:
        return [c for c in self.comments.values() if c.post_id in post_ids]


class FakePort:
    """What a remote port does when asked: logs (name, *args), waits while `hold` is set and not
    released, then raises `fail` or answers. Cancelled while it waits, it logs
    (name + "-cancelled", *args) first."""

    def __init__(self, log: Log, name: str) -> None:
        self.log = log
        self.name = name
        self.hold: asyncio.Event | None = None
        self.fail: BaseException | None = None

    async def _asked(self, *args: Any) -> None:
        self.log.add(self.name, *args)
        try:
            if self.hold is not None:
                await self.hold.wait()
        except asyncio.CancelledError:
            self.log.add(f"{self.name}-cancelled", *args)
            raise
        if self.fail is not None:
            raise self.fail


class FakePostDirectory(FakePort):
    """A PostDirectory: the posts in `known` exist. Logs ("exists", post_id)."""

    def __init__(self, log: Log, known: Iterable[str] = ()) -> None:
        super().__init__(log, "exists")
        self.known = set(known)

    async def exists(self, post_id: str) -> bool:
        await self._asked(post_id)
        return post_id in self.known


APPROVED = Decision(CommentStatus.APPROVED)


class FakeModeration(FakePort):
    """A ModerationPort that gives `decision`. Logs ("moderate", comment_id, post_id, content)."""

    def __init__(self, log: Log, decision: Decision = APPROVED) -> None:
        super().__init__(log, "moderate")
        self.decision = decision

    async def moderate(self, comment_id: str, post_id: str, content: str) -> Decision:
        await self._asked(comment_id, post_id, content)
        return self.decision


class FakeClock:
    """A monotonic clock that moves only when told (`advance`): time-based decisions (the
    circuit breaker's window and open time) tested without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
