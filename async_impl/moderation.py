"""async moderation service: decides each CommentCreated with the shared rule, records the
decision and announces CommentModerated. No client-facing RPCs (health, reflection, metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from async_impl.wiring import consumer, open_bus, start_relay
from blog.v1 import events_pb2
from lab import events, handlers
from lab.config import ServiceSettings
from lab.domain import Moderator
from lab.events import IncomingEvent, OutgoingEvent
from lab.repositories import DecisionRepository
from lab.service import Wiring, open_database, run


def decide_handler(moderator: Moderator):
    async def on_comment_created(
        conn: asyncpg.Connection, event: IncomingEvent
    ) -> Sequence[OutgoingEvent]:
        comment = event.payload.comment  # type: ignore[attr-defined]
        assert isinstance(event.payload, events_pb2.CommentCreated)
        decision = await DecisionRepository(conn).record(
            comment.id, comment.post_id, moderator.decide(comment.content), handlers.now()
        )
        return [events.comment_moderated(comment.id, comment.post_id, decision)]

    return on_comment_created


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    database = await open_database("moderation", settings, wiring, events=True)
    conn = await open_bus("moderation", settings, wiring)
    relay = start_relay("moderation", database, conn, wiring)
    delay_s = settings.moderation_delay_ms / 1000

    async def artificial_cost(_: IncomingEvent) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)  # outside the transaction: holds no connection

    handlers = {events.COMMENT_CREATED: decide_handler(settings.moderator())}
    consumer("moderation", database, conn, wiring, handlers, relay, before=artificial_cost).start()


def main(argv: list[str] | None = None) -> None:
    run("async-moderation", "moderation", ["dsn", "nats_url"], build, argv)


if __name__ == "__main__":
    main()
