"""sync posts service: owns posts; calls nobody."""

from __future__ import annotations

from lab import posts_service
from lab.config import ServiceSettings
from lab.service import Wiring, open_database, run


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    db = await open_database("posts", settings, wiring)
    wiring.registrations.append(posts_service.registration(posts_service.PostServicer(db)))


def main(argv: list[str] | None = None) -> None:
    run("sync-posts", "posts", ["dsn"], build, argv)


if __name__ == "__main__":
    main()
