"""async posts service: stores a post and its PostCreated event in one statement (outbox)."""

from __future__ import annotations

from async_impl.wiring import open_bus, start_relay
from lab import posts_service
from lab.config import ServiceSettings
from lab.service import Wiring, open_database, run


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    db = await open_database("posts", settings, wiring, events=True)
    conn = await open_bus("posts", settings, wiring)
    relay = start_relay("posts", db, conn, wiring)
    servicer = posts_service.PostServicer(db, with_events=True, on_commit=relay.published_later)
    wiring.registrations.append(posts_service.registration(servicer))


def main(argv: list[str] | None = None) -> None:
    run("async-posts", "posts", ["dsn", "nats_url"], build, argv)


if __name__ == "__main__":
    main()
