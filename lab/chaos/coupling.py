"""Static coupling, derived from the topology: for each client operation, the processes and
databases that must be up for it to succeed (and the links its requests cross), and the
coupling index of a measured matrix."""

from __future__ import annotations

from collections.abc import Mapping

from lab.stack.faults import Fault
from lab.stack.links import CLIENTS, LinkPair, db_part
from lab.stack.topology import CALLS, OPERATIONS, TOPOLOGY

AVAILABLE = 0.99  # an operation at or above this share of successes counts as up


def database(service: str) -> str:
    return f"db:{service}"


def dependencies(impl: str, operation: str) -> frozenset[str]:
    """Components an operation needs at request time: the service that serves it and the ones it
    calls, each with its own database if it owns one. The bus is on no request's path (async
    writes go to the outbox; the bus only carries them on afterwards)."""
    topology = TOPOLOGY[impl]
    needed = [OPERATIONS[operation], *CALLS[impl].get(operation, ())]
    components = set(needed)
    components |= {database(s) for s in needed if topology[s].owns_database}
    return frozenset(components)


def path_links(impl: str, operation: str) -> frozenset[LinkPair]:
    """The links an operation's requests cross: the clients to the serving service, it to the
    peers it calls, each of these to its own database."""
    topology = TOPOLOGY[impl]
    service = OPERATIONS[operation]
    calls = CALLS[impl].get(operation, ())
    links = {LinkPair(CLIENTS, service), *(LinkPair(service, peer) for peer in calls)}
    links |= {LinkPair(s, db_part(s)) for s in (service, *calls) if topology[s].owns_database}
    return frozenset(links)


def component_of(fault: str) -> str:
    """The component a fault takes away (or slows): "kill-db:comments" and "slow-db:comments"
    -> "db:comments", "kill:posts" and "slow:posts" -> "posts", "kill-bus", "slow-bus" and
    "kill-bus-node:leader" -> "bus", a link fault -> its link ("comments,posts")."""
    parsed = Fault.parse(fault)
    if parsed.scope == "link":
        return f"{parsed.target},{parsed.peer}"
    return database(parsed.target) if parsed.scope == "database" else parsed.component


def owner(operation: str) -> frozenset[str]:
    """What an operation owns: its service, that service's database and the links to both."""
    service = OPERATIONS[operation]
    return frozenset(
        {
            service,
            database(service),
            str(LinkPair(CLIENTS, service)),
            str(LinkPair(service, db_part(service))),
        }
    )


def predicted_up(impl: str, fault: str, operation: str) -> bool:
    """Whether the operation needs nothing the fault takes away: neither the component nor,
    for a link fault, a link its requests cross. (A slowed component counts as taken: "up"
    is also a p99 within the SLO, docs/METHOD.md.)"""
    parsed = Fault.parse(fault)
    if parsed.scope == "link":
        return not parsed.pairs(impl) & path_links(impl, operation)
    return component_of(fault) not in dependencies(impl, operation)


def coupling_index(impl: str, *during: Mapping[str, Mapping[str, float | None]]) -> float | None:
    """Share of (fault, operation) pairs, over operations NOT owned by the failed component,
    in which the operation dropped below 99 % while the fault lasted. Each `during`: fault ->
    operation -> availability during the fault (None: no request of it); several (one per
    run) pool their pairs."""
    pairs = dropped = 0
    for one in during:
        for fault, by_operation in one.items():
            component = component_of(fault)
            for operation, availability in by_operation.items():
                if availability is None or component in owner(operation):
                    continue
                pairs += 1
                dropped += availability < AVAILABLE
    return dropped / pairs if pairs else None
