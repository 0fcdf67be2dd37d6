"""Operations a person (via `lab`) or a test runs against a live async stack's bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from async_impl import bus
from blog.events import PoisonEvent, decode


@dataclass(frozen=True)
class DeadLetter:
    seq: int  # sequence in the dead-letter stream
    consumer: str
    subject: str  # where the event was published
    original_seq: int  # its sequence in the event stream
    delivered: int
    reason: str
    event: str  # "type id" when the data decodes, else a note
    data: bytes


async def dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    info = await js.stream_info(bus.DLQ)
    found: list[DeadLetter] = []
    if info.state.messages == 0:
        return found
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(bus.DLQ, seq)
        except NotFoundError:
            continue  # replayed (deleted)
        headers = msg.headers or {}
        try:
            event = decode(msg.data or b"")
            what = f"{event.event_type} {event.event_id}"
        except PoisonEvent as error:
            what = f"undecodable ({error})"
        found.append(
            DeadLetter(
                seq=seq,
                consumer=headers.get(bus.H_CONSUMER, "?"),
                subject=headers.get(bus.H_SUBJECT, "?"),
                original_seq=int(headers.get(bus.H_SEQ, 0)),
                delivered=int(headers.get(bus.H_DELIVERED, 0)),
                reason=headers.get(bus.H_REASON, ""),
                event=what,
                data=msg.data or b"",
            )
        )
    return found


async def replay_dead_letters(js: JetStreamContext, seqs: set[int] | None) -> list[DeadLetter]:
    """Publish dead letters again on their original subject, then remove them from the DLQ.

    Consumers that applied the event already skip it (they de-duplicate by event id)."""
    replayed = []
    for letter in await dead_letters(js):
        if seqs is not None and letter.seq not in seqs:
            continue
        await js.publish(
            letter.subject,
            letter.data,
            headers={"Nats-Msg-Id": f"replay:{letter.seq}:{letter.original_seq}"},
            timeout=5,
        )
        await js.delete_msg(bus.DLQ, letter.seq)
        replayed.append(letter)
    return replayed


async def wait_caught_up(
    js: JetStreamContext,
    consumer: str,
    timeout_s: float,
    progress: Callable[[int, int], None] = lambda pending, acked: None,
) -> bool:
    """Wait until `consumer` has nothing pending or unacknowledged. False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            info = await js.consumer_info(bus.EVENTS, consumer)
        except NotFoundError:
            await asyncio.sleep(0.1)
            continue
        progress(info.num_pending or 0, info.ack_floor.stream_seq if info.ack_floor else 0)
        if not info.num_pending and not info.num_ack_pending:
            return True
        await asyncio.sleep(0.2)
    return False
