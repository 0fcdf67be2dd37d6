"""sync posts service: owns posts; calls nobody."""

from __future__ import annotations

from blog.rpc import servicers
from blog.rpc.process import Assembly, open_database, run
from blog.rpc.settings import ServiceSettings
from blog.store.repositories import PostRepository
from sync_impl.resilience import adapters_for


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    adapters_for(settings, assembly)  # calls no peer: only the load shedding, if switched on
    database = await open_database(settings, assembly)
    posts = PostRepository(database)
    servicer = servicers.PostServicer(lambda: posts)
    assembly.registrations.append(servicers.post_service(servicer))


def main(argv: list[str] | None = None) -> None:
    run("sync-posts", "posts", ["dsn"], assemble, argv)


if __name__ == "__main__":
    main()
