"""The topology of each implementation: the one list of services, which own a database, whom
each calls, who needs the bus. Declared here, apart from how it runs (stack.runner)."""

from __future__ import annotations

from dataclasses import dataclass

SERVICES: tuple[str, ...] = ("posts", "comments", "moderation", "query")
# sync: the baseline a naive team ships; sync-resilient: the same services with the resilience
# patterns a careful team adds (docs/METHOD.md, Resilience); async: events.
IMPLS: tuple[str, ...] = ("sync", "sync-resilient", "async")


@dataclass(frozen=True)
class ServiceSpec:
    """One service of an implementation: its module, its database, its peers (by flag), and
    the settings this implementation gives it beyond the stack's options (LAB_* variables)."""

    module: str
    owns_database: bool
    peers: tuple[str, ...] = ()  # services whose addresses it needs, started before it
    uses_bus: bool = False
    env: tuple[tuple[str, str], ...] = ()  # (LAB_NAME, value): what makes this variant


def _sync(env: tuple[tuple[str, str], ...] = ()) -> dict[str, ServiceSpec]:
    return {
        "posts": ServiceSpec("sync_impl.posts", owns_database=True, env=env),
        "moderation": ServiceSpec("sync_impl.moderation", owns_database=True, env=env),
        "comments": ServiceSpec(
            "sync_impl.comments", owns_database=True, peers=("posts", "moderation"), env=env
        ),
        "query": ServiceSpec(
            "sync_impl.query", owns_database=False, peers=("posts", "comments"), env=env
        ),
    }


TOPOLOGY: dict[str, dict[str, ServiceSpec]] = {
    # Said explicitly, so that a LAB_RESILIENCE left in the caller's environment cannot turn
    # the baseline into the other variant.
    "sync": _sync(env=(("LAB_RESILIENCE", "0"),)),
    # The same processes with the patterns switched on (blog/rpc/settings.py: resilience).
    "sync-resilient": _sync(env=(("LAB_RESILIENCE", "1"),)),
    # Nobody calls anybody: each service needs its own database and the bus, nothing else.
    "async": {
        name: ServiceSpec(f"async_impl.{name}", owns_database=True, uses_bus=True)
        for name in SERVICES
    },
}


def start_order(impl: str) -> list[str]:
    """Services in an order where every peer starts before the services that call it."""
    topology = TOPOLOGY[impl]
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:
            for peer in topology[name].peers:
                visit(peer)
            order.append(name)

    for name in topology:
        visit(name)
    return order


# The client-facing operations, the service that serves each, and (sync) the peers each one
# calls at request time, as the servicers do (sync_impl/comments.py, sync_impl/query.py).
# The chaos experiments derive each operation's static dependencies from these and compare
# them with what a fault actually does.
OPERATIONS: dict[str, str] = {
    "CreatePost": "posts",
    "GetPost": "posts",
    "CreateComment": "comments",
    "ListComments": "comments",
    "GetPostView": "query",
    "ListPostViews": "query",
}
_SYNC_CALLS: dict[str, tuple[str, ...]] = {
    "CreateComment": ("posts", "moderation"),
    "GetPostView": ("posts", "comments"),
    "ListPostViews": ("posts", "comments"),
}
CALLS: dict[str, dict[str, tuple[str, ...]]] = {
    "sync": _SYNC_CALLS,
    # The same calls: a fallback answers partially when a peer is down, but the static coupling
    # (what must be up for a full answer) is sync's; the chaos runs measure what is left.
    "sync-resilient": _SYNC_CALLS,
    "async": {},  # no request waits on another service
}
