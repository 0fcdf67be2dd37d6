"""Explicit event schemas: each event type is a subject and a protobuf message, in an Envelope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import DecodeError, Message

from blog.convert import comment_to_pb, from_timestamp, post_to_pb, timestamp
from blog.domain import Comment, CommentStatus, Decision, Post
from blog.tracing.messages import current_traceparent
from blog.v1 import events_pb2

SCHEMA_VERSION = 1

POST_CREATED = "blog.post.created"
COMMENT_CREATED = "blog.comment.created"
COMMENT_MODERATED = "blog.comment.moderated"
COMMENT_UPDATED = "blog.comment.updated"

# Event type (= subject) -> payload message class.
PAYLOADS: dict[str, type[Message]] = {
    POST_CREATED: events_pb2.PostCreated,
    COMMENT_CREATED: events_pb2.CommentCreated,
    COMMENT_MODERATED: events_pb2.CommentModerated,
    COMMENT_UPDATED: events_pb2.CommentUpdated,
}


class PoisonEvent(Exception):
    """An event that can never be processed as it is (undecodable, unknown type, invalid)."""


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event ready for the outbox: its id, subject and serialized Envelope, and the W3C
    traceparent of the traced request that caused it (None when it was not traced: stored with
    the outbox row, so the relay's publish continues that trace; blog.tracing.messages)."""

    event_id: str
    subject: str
    data: bytes
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A decoded event: the envelope's facts plus the typed payload."""

    event_id: str
    event_type: str
    occurred_at: datetime
    producer: str
    aggregate_id: str
    payload: Message


def envelope(event_type: str, aggregate_id: str, producer: str, payload: Message) -> OutgoingEvent:
    if event_type not in PAYLOADS or not isinstance(payload, PAYLOADS[event_type]):
        raise ValueError(f"{type(payload).__name__} is not the payload of {event_type}")
    event_id = str(uuid.uuid4())
    env = events_pb2.Envelope(
        event_id=event_id,
        event_type=event_type,
        occurred_at=timestamp(datetime.now(UTC)),
        producer=producer,
        aggregate_id=aggregate_id,
        schema_version=SCHEMA_VERSION,
        payload=payload.SerializeToString(),
    )
    return OutgoingEvent(event_id, event_type, env.SerializeToString(), current_traceparent())


def decode(data: bytes) -> IncomingEvent:
    """Parse an Envelope and its payload; raise PoisonEvent when that is impossible."""
    try:
        env = events_pb2.Envelope.FromString(data)
    except DecodeError as error:
        raise PoisonEvent(f"not an Envelope: {error}") from None
    payload_type = PAYLOADS.get(env.event_type)
    if payload_type is None:
        raise PoisonEvent(f"unknown event type {env.event_type!r}")
    if env.schema_version != SCHEMA_VERSION:
        raise PoisonEvent(f"unsupported schema version {env.schema_version}")
    try:
        uuid.UUID(env.event_id)
        payload = payload_type.FromString(env.payload)
    except (ValueError, DecodeError) as error:
        raise PoisonEvent(f"bad envelope or payload: {error}") from None
    return IncomingEvent(
        env.event_id,
        env.event_type,
        from_timestamp(env.occurred_at),
        env.producer,
        env.aggregate_id,
        payload,
    )


# --- constructors, one per event type --------------------------------------------------------
def post_created(post: Post) -> OutgoingEvent:
    return envelope(POST_CREATED, post.id, "posts", events_pb2.PostCreated(post=post_to_pb(post)))


def comment_created(comment: Comment) -> OutgoingEvent:
    payload = events_pb2.CommentCreated(comment=comment_to_pb(comment))
    return envelope(COMMENT_CREATED, comment.id, "comments", payload)


def comment_moderated(comment_id: str, post_id: str, decision: Decision) -> OutgoingEvent:
    payload = events_pb2.CommentModerated(
        comment_id=comment_id,
        post_id=post_id,
        status=int(decision.status),  # type: ignore[arg-type]
        reason=decision.reason,
    )
    return envelope(COMMENT_MODERATED, comment_id, "moderation", payload)


def comment_updated(comment: Comment, reason: str = "") -> OutgoingEvent:
    """A comment's status changed; `reason` when it was not moderation's decision."""
    payload = events_pb2.CommentUpdated(comment=comment_to_pb(comment), reason=reason)
    return envelope(COMMENT_UPDATED, comment.id, "comments", payload)


def final_status(status: int) -> CommentStatus:
    """A moderation outcome carried by an event; anything but APPROVED/REJECTED is poison."""
    if status not in (CommentStatus.APPROVED, CommentStatus.REJECTED):
        raise PoisonEvent(f"moderation status {status} is not a final status")
    return CommentStatus(status)
