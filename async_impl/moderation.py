"""async moderation service: decides each CommentCreated with the shared rule, records the
decision and announces CommentModerated, in one transaction. No client-facing RPCs (health,
reflection and metrics only)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from async_impl.assembly import durable_consumer, open_bus, open_store, start_relay
from async_impl.consumer import Handler
from blog import events, features
from blog.domain import Moderator
from blog.events import IncomingEvent, OutgoingEvent
from blog.rpc.process import Assembly, run
from blog.rpc.settings import ServiceSettings
from blog.store.pool import Executor
from blog.store.repositories import DecisionRepository
from blog.v1 import events_pb2


def on_comment_created(moderator: Moderator) -> Handler:
    async def handle(db: Executor, event: IncomingEvent) -> Sequence[OutgoingEvent]:
        payload: events_pb2.CommentCreated = event.payload  # type: ignore[assignment]
        comment = payload.comment
        decision = await features.moderate(
            DecisionRepository(db), moderator, comment.id, comment.post_id, comment.content
        )
        return [events.comment_moderated(comment.id, comment.post_id, decision)]

    return handle


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    database = await open_store(settings, assembly)
    connection = await open_bus(settings, assembly)
    relay = start_relay(database, connection, assembly)
    delay_s = settings.moderation_delay_ms / 1000

    async def artificial_cost(_: IncomingEvent) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)  # outside the transaction: holds no connection

    handlers = {events.COMMENT_CREATED: on_comment_created(settings.moderator())}
    consumer = durable_consumer(
        database, connection, assembly, handlers, relay, before=artificial_cost
    )
    consumer.start()


def main(argv: list[str] | None = None) -> None:
    run("async-moderation", "moderation", ["dsn", "nats_url"], assemble, argv)


if __name__ == "__main__":
    main()
