"""async posts service: stores a post and its PostCreated event in one statement (the outbox);
the relay publishes the event once the statement has committed."""

from __future__ import annotations

from async_impl.assembly import open_bus, open_store, start_relay
from async_impl.outbox import OutboxPostRepository
from blog.rpc import servicers
from blog.rpc.process import Assembly, run
from blog.rpc.settings import ServiceSettings


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    database = await open_store(settings, assembly)
    relay = start_relay(database, await open_bus(settings, assembly), assembly)
    # Each post's statement hands its event to the relay as it commits (async_impl.outbox).
    servicer = servicers.PostServicer(lambda: OutboxPostRepository(database, relay.published_later))
    assembly.registrations.append(servicers.post_service(servicer))


def main(argv: list[str] | None = None) -> None:
    run("async-posts", "posts", ["dsn", "nats_url"], assemble, argv)


if __name__ == "__main__":
    main()
