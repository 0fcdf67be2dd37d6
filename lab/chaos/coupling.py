"""Static coupling, derived from the topology: for each client operation, the processes and
databases that must be up for it to succeed, and the coupling index of a measured matrix."""

from __future__ import annotations

from collections.abc import Mapping

from lab.stack.faults import Fault
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


def component_of(fault: str) -> str:
    """The component a fault takes away: "kill-db:comments" -> "db:comments", "kill:posts" ->
    "posts", "kill-bus" and "kill-bus-node:leader" -> "bus"."""
    parsed = Fault.parse(fault)
    return database(parsed.target) if parsed.scope == "database" else parsed.component


def owner(operation: str) -> frozenset[str]:
    """What an operation owns: its service and that service's database."""
    service = OPERATIONS[operation]
    return frozenset({service, database(service)})


def predicted_up(impl: str, fault: str, operation: str) -> bool:
    return component_of(fault) not in dependencies(impl, operation)


def coupling_index(impl: str, during: Mapping[str, Mapping[str, float | None]]) -> float | None:
    """Share of (fault, operation) pairs, over operations NOT owned by the failed component,
    in which the operation dropped below 99 % while the fault lasted. `during`: fault ->
    operation -> availability during the fault (None: no request of it)."""
    pairs = dropped = 0
    for fault, by_operation in during.items():
        component = component_of(fault)
        for operation, availability in by_operation.items():
            if availability is None or component in owner(operation):
                continue
            pairs += 1
            dropped += availability < AVAILABLE
    return dropped / pairs if pairs else None
