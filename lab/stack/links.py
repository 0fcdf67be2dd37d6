"""The links of a stack, derived from its topology: every connection a fault proxy can sit on.

A part is a service (`posts`), a service's database (`db:posts`), the bus (`bus`) or the outside
clients (`clients`: the load generator, the CLI). A link joins a client part to a server part:
each service to its own database and (async) to the bus, each service to the peers it calls,
and the clients to each service. `LinkPair("comments", "posts")` is written `comments,posts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.stack.topology import SERVICES, TOPOLOGY

BUS = "bus"
CLIENTS = "clients"
DB_PREFIX = "db:"


def db_part(service: str) -> str:
    return f"{DB_PREFIX}{service}"


def service_of(part: str) -> str | None:
    """The service a part belongs to (`db:posts` -> posts); None for the bus and the clients."""
    name = part.removeprefix(DB_PREFIX)
    return name if name in SERVICES else None


PARTS: tuple[str, ...] = (*SERVICES, *(db_part(s) for s in SERVICES), BUS, CLIENTS)


@dataclass(frozen=True, order=True)
class LinkPair:
    """Who connects (`client`) to whom (`server`)."""

    client: str
    server: str

    def __str__(self) -> str:
        return f"{self.client},{self.server}"

    @property
    def parts(self) -> frozenset[str]:
        return frozenset((self.client, self.server))


def link_pairs(impl: str) -> list[LinkPair]:
    """Every link a stack of `impl` has when its fault proxies are on, in a stable order:
    clients to each service, each service to its database, its peers and the bus."""
    topology = TOPOLOGY[impl]
    pairs = [LinkPair(CLIENTS, name) for name in SERVICES]
    for name in SERVICES:
        spec = topology[name]
        if spec.owns_database:
            pairs.append(LinkPair(name, db_part(name)))
        pairs += [LinkPair(name, peer) for peer in spec.peers]
        if spec.uses_bus:
            pairs.append(LinkPair(name, BUS))
    return pairs


def pair_between(impl: str, a: str, b: str) -> LinkPair | None:
    """The link joining parts `a` and `b` in `impl` (either way round), if there is one."""
    for pair in link_pairs(impl):
        if pair.parts == {a, b}:
            return pair
    return None


def into(impl: str, server: str) -> frozenset[LinkPair]:
    """Every link whose server is `server` (a service: its clients and its callers)."""
    return frozenset(p for p in link_pairs(impl) if p.server == server)


def canonical_order(a: str, b: str) -> tuple[str, str]:
    """(client, server) of the link between `a` and `b` in whichever implementation has one;
    (a, b) when none has (Fault.check names the implementation's links then)."""
    for impl in TOPOLOGY:
        pair = pair_between(impl, a, b)
        if pair is not None:
            return pair.client, pair.server
    return a, b
