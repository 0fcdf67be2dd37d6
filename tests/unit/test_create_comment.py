"""The comment rule's sync branch (blog.features.create_comment with a PostDirectory), against
fakes of its ports (tests/fakes.py): both remote questions asked at once, an unknown post
refused with nothing stored, the decision's status stored, a failed port cancelling the other,
idempotency per request_id."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from blog import features
from blog.domain import CommentStatus, Decision, NewComment, NotFound, Unavailable
from tests.fakes import (
    APPROVED,
    FakeCommentStore,
    FakeModeration,
    FakePostDirectory,
    Log,
    until,
)

POST = str(uuid.uuid4())


def rig(
    decision: Decision = APPROVED,
) -> tuple[Log, FakeCommentStore, FakePostDirectory, FakeModeration]:
    """A store, a directory that knows POST, and moderation giving `decision`, on one log."""
    log = Log()
    return log, FakeCommentStore(), FakePostDirectory(log, [POST]), FakeModeration(log, decision)


def test_both_ports_are_asked_at_once() -> None:
    log, store, directory, moderation = rig()
    directory.hold, moderation.hold = asyncio.Event(), asyncio.Event()

    async def scenario() -> None:
        new = NewComment(POST, "hello")
        task = asyncio.create_task(features.create_comment(store, new, moderation, directory))
        # Neither has answered, and both were asked: one question does not wait for the other.
        await until(lambda: {"exists", "moderate"} <= set(log.names()))
        assert not store.comments
        assert directory.hold is not None and moderation.hold is not None
        directory.hold.set()
        moderation.hold.set()
        await task

    asyncio.run(scenario())


def test_an_unknown_post_is_not_found_and_nothing_is_stored() -> None:
    log, store, directory, moderation = rig()
    new = NewComment(str(uuid.uuid4()), "on a post nobody created")
    with pytest.raises(NotFound, match=new.post_id):
        asyncio.run(features.create_comment(store, new, moderation, directory))
    assert store.comments == {}
    assert log.of("exists") == [("exists", new.post_id)]


@pytest.mark.parametrize(
    "decision",
    [APPROVED, Decision(CommentStatus.REJECTED, "blocklisted word 'x'")],
)
def test_the_decision_s_status_is_stored(decision: Decision) -> None:
    log, store, directory, moderation = rig(decision)
    new = NewComment(POST, "hello", request_id=str(uuid.uuid4()))
    comment, inserted = asyncio.run(features.create_comment(store, new, moderation, directory))
    assert inserted
    assert (comment.post_id, comment.content, comment.status) == (POST, "hello", decision.status)
    assert store.comments == {comment.id: comment}
    # Moderation decided about the comment that was stored, under its id.
    assert log.of("moderate") == [("moderate", comment.id, POST, "hello")]


@pytest.mark.parametrize("failing", ["exists", "moderate"])
def test_a_failed_port_cancels_the_other_and_nothing_is_stored(failing: str) -> None:
    log, store, directory, moderation = rig()
    down, other = (directory, moderation) if failing == "exists" else (moderation, directory)
    other.hold = asyncio.Event()  # never released: only a cancellation ends it
    down.fail = Unavailable(f"{failing} peer", "connection refused")

    async def scenario() -> None:
        with pytest.raises(ExceptionGroup) as raised:
            await features.create_comment(store, NewComment(POST, "hi"), moderation, directory)
        assert raised.group_contains(Unavailable)
        # Cancelled by the time the failure reached the caller, not left running behind it.
        assert f"{other.name}-cancelled" in log.names()

    asyncio.run(scenario())
    assert store.comments == {}


def test_a_repeated_request_id_gives_back_the_first_comment() -> None:
    _, store, directory, moderation = rig()
    new = NewComment(POST, "once", request_id=str(uuid.uuid4()))
    first, inserted = asyncio.run(features.create_comment(store, new, moderation, directory))
    moderation.decision = Decision(CommentStatus.REJECTED, "changed its mind")
    again, inserted_again = asyncio.run(features.create_comment(store, new, moderation, directory))
    assert (inserted, inserted_again) == (True, False)
    assert again == first  # same id and status: the retry changed nothing
    other, _ = asyncio.run(
        features.create_comment(
            store, NewComment(POST, "once", request_id=str(uuid.uuid4())), moderation, directory
        )
    )
    assert other.id != first.id and len(store.comments) == 2
