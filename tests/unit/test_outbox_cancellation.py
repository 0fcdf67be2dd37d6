"""A write whose caller is cancelled after its statement was sent still hands its event to the
relay's fast path (async_impl.outbox): the statement may commit whatever the caller does, and
an event left to the sweep waits a second longer (issue 27's defect: a client that gives up, or
Locust stopping its users, cancelled the RPC's task between the commit and the hand-over)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from async_impl.outbox import OutboxCommentRepository, OutboxPostRepository
from blog.domain import Comment, CommentStatus
from blog.events import OutgoingEvent
from blog.rpc.servicers import PostServicer
from blog.v1 import api_pb2


class CommittingPostgres:
    """An Executor standing for PostgreSQL: a statement commits the moment it is sent; its
    answer comes back when the test releases it."""

    def __init__(self) -> None:
        self.committed: list[tuple[Any, ...]] = []
        self.answer: asyncio.Future[dict[str, Any]] | None = None

    async def fetchrow(self, query: str, *args: Any) -> Any:
        assert "INSERT INTO outbox" in query  # the entity and its event: one statement
        self.committed.append(args)
        self.answer = asyncio.get_running_loop().create_future()
        return await self.answer

    def release(self, row: dict[str, Any]) -> None:
        assert self.answer is not None
        if not self.answer.done():
            self.answer.set_result(row)

    async def execute(self, query: str, *args: Any) -> str:
        raise AssertionError("one statement per insert")

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        raise AssertionError("one statement per insert")

    async def fetchval(self, query: str, *args: Any) -> Any:
        raise AssertionError("one statement per insert")


class Context:
    """The little of grpc.aio.ServicerContext a handler uses."""

    def time_remaining(self) -> float:
        return 5.0

    async def abort(self, code: Any, details: str) -> None:
        raise AssertionError(f"abort {code} {details}")


def post_row(args: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": args[0], "title": args[1], "body": args[2], "created_at": args[3]}


async def cancel_around_the_answer(
    db: CommittingPostgres, task: asyncio.Future[Any], row: dict[str, Any], answered_first: bool
) -> None:
    """Cancel `task` just after the database answered (before the task resumed), or while the
    answer is still on its way."""
    if answered_first:
        db.release(row)
        task.cancel()
    else:
        task.cancel()
        await asyncio.sleep(0)
        db.release(row)
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(5):
        await asyncio.sleep(0)  # the shielded insert finishes on its own


@pytest.mark.parametrize("answered_first", [True, False], ids=["answered", "in-flight"])
def test_a_cancelled_create_post_still_hands_its_event_over(answered_first: bool) -> None:
    async def scenario() -> None:
        db = CommittingPostgres()
        handed: list[OutgoingEvent] = []
        servicer = PostServicer(lambda: OutboxPostRepository(db, handed.extend))  # type: ignore[arg-type]
        request = api_pb2.CreatePostRequest(title="t", body="b", request_id=str(uuid.uuid4()))
        task = asyncio.ensure_future(servicer.CreatePost(request, Context()))  # type: ignore[arg-type]
        while not db.committed:
            await asyncio.sleep(0)
        await cancel_around_the_answer(db, task, post_row(db.committed[0]), answered_first)
        assert len(db.committed) == 1
        assert [e.subject for e in handed] == ["blog.post.created"]

    asyncio.run(scenario())


@pytest.mark.parametrize("answered_first", [True, False], ids=["answered", "in-flight"])
def test_a_cancelled_comment_insert_still_hands_its_event_over(answered_first: bool) -> None:
    async def scenario() -> None:
        db = CommittingPostgres()
        handed: list[OutgoingEvent] = []
        comments = OutboxCommentRepository(db, handed.extend)  # type: ignore[arg-type]
        comment = Comment(
            str(uuid.uuid4()), str(uuid.uuid4()), "hi", CommentStatus.PENDING, datetime.now(UTC)
        )
        task = asyncio.ensure_future(comments.add(comment, str(uuid.uuid4())))
        while not db.committed:
            await asyncio.sleep(0)
        row = {
            "id": comment.id,
            "post_id": comment.post_id,
            "content": comment.content,
            "status": int(comment.status),
            "created_at": comment.created_at,
        }
        await cancel_around_the_answer(db, task, row, answered_first)
        assert [e.subject for e in handed] == ["blog.comment.created"]

    asyncio.run(scenario())


def test_a_write_that_did_not_insert_hands_nothing_over() -> None:
    """A refused comment (post unknown: no row) or a retried request_id queues no event."""

    async def scenario() -> None:
        db = CommittingPostgres()
        handed: list[OutgoingEvent] = []
        comments = OutboxCommentRepository(db, handed.extend)  # type: ignore[arg-type]
        comment = Comment(
            str(uuid.uuid4()), str(uuid.uuid4()), "hi", CommentStatus.PENDING, datetime.now(UTC)
        )
        task = asyncio.ensure_future(comments.add(comment))  # no request_id: no second look
        while not db.committed:
            await asyncio.sleep(0)
        assert db.answer is not None
        db.answer.set_result(None)  # type: ignore[arg-type]
        assert await task == (None, False)
        assert handed == []

    asyncio.run(scenario())
