"""What a fault is: its kinds, its text and what it applies to (lab.stack.faults acts on them).

    kill-db:SVC  freeze-db:SVC  kill:SVC  freeze:SVC  kill-bus        processes (clean faults)
    kill-bus-node:ROLE  freeze-bus-node:ROLE       one node of a bus cluster (--bus-nodes 3)
    slow-db:SVC[:MS]   slow:SVC[:MS]   slow-bus[:MS]                   latency (gray faults)
    partition:A,B   partition-reset:A,B   lossy:A,B[:PCT]   packet-loss:A,B[:PCT]   links

A dose ends the text after a colon or an `@`, with or without its unit (`slow-db:posts:200`,
`slow-db:posts@200ms`, `lossy:comments,posts:10%`); without one a kind takes its default. A link
joins two parts (lab.stack.links: a service, `db:SVC`, `bus`, `clients`) and is named either way
round (`partition:posts,comments` is `partition:comments,posts`). Gray faults act through the
stack's fault proxies (StackOptions.fault_proxies; docs/METHOD.md, Gray faults). A bus-node
fault names the node by its role for the event stream (`leader` or `follower`) and needs a bus
cluster (lab.stack.bus_failover picks the node when it is injected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.stack.bus_failover import ROLES
from lab.stack.links import (
    BUS,
    CLIENTS,
    PARTS,
    LinkPair,
    canonical_order,
    db_part,
    into,
    link_pairs,
    pair_between,
    service_of,
)
from lab.stack.topology import IMPLS, SERVICES, TOPOLOGY

ALL = "all"
CLUSTER_NODES = 3  # the smallest bus a node can be taken from without losing the quorum
MS, PERCENT = "ms", "%"
MAX_DOSE = {MS: 60_000.0, PERCENT: 100.0}  # above a minute a link is cut, not slow


class FaultError(ValueError):
    """A fault or restore target that is malformed or does not apply (a client's mistake)."""


@dataclass(frozen=True)
class KindInfo:
    """One kind of fault: what it is aimed at, what it does, its restore, and its dose."""

    scope: str  # "database", "service", "bus", "bus-node" or "link"
    does: str
    restore: str
    unit: str = ""  # "ms" or "%" for a kind with a dose
    default_dose: float = 0.0
    proxied: bool = False  # acts through the fault proxies (StackOptions.fault_proxies)


_HEAL = "the link forwards at once again; what it held flows on, in order"
KINDS: dict[str, KindInfo] = {
    "kill-db": KindInfo(
        "database",
        "SIGKILL of the service's PostgreSQL postmaster; its backends exit by themselves "
        "within ~2 s",
        "start PostgreSQL again on the same data directory and port (crash recovery), retried "
        "while the old backends still hold its shared memory",
    ),
    "freeze-db": KindInfo(
        "database",
        "SIGSTOP of the postmaster and all its children: open sessions and new connections hang",
        "SIGCONT all of them",
    ),
    "kill": KindInfo(
        "service",
        "SIGKILL of every replica of the service",
        "start each replica again on its own address",
    ),
    "freeze": KindInfo(
        "service",
        "SIGSTOP of every replica (and its children): calls to it hang until their deadline",
        "SIGCONT them",
    ),
    "kill-bus": KindInfo(
        "bus",
        "SIGKILL of nats-server, of every node on a bus cluster (async only)",
        "start it (them) again on the same stores and ports",
    ),
    "kill-bus-node": KindInfo(
        "bus-node",
        "SIGKILL of one nats-server of a bus cluster: the event stream's leader or a follower "
        "(async, --bus-nodes 3)",
        "start it again on its store and ports; it catches up from the others",
    ),
    "freeze-bus-node": KindInfo(
        "bus-node",
        "SIGSTOP of one nats-server of a bus cluster, the stream's leader or a follower: its "
        "peers stop hearing from it (a gray failure; async, --bus-nodes 3)",
        "SIGCONT it; it learns of the new leader and catches up",
    ),
    "slow-db": KindInfo(
        "database",
        "every answer of the service's database reaches it MS +- 10 % later (each round trip)",
        _HEAL,
        MS,
        100.0,
        True,
    ),
    "slow": KindInfo(
        "service",
        "every answer of the service (to the clients and to its callers) arrives MS +- 10 % later",
        _HEAL,
        MS,
        100.0,
        True,
    ),
    "slow-bus": KindInfo(
        "bus",
        "everything nats-server (each node of a cluster) sends each service arrives MS +- 10 % "
        "later (async only)",
        _HEAL,
        MS,
        100.0,
        True,
    ),
    "partition": KindInfo(
        "link",
        "a blackhole between two parts: connections stay open and silent, new ones are "
        "accepted and left waiting, nothing is refused",
        _HEAL,
        proxied=True,
    ),
    "partition-reset": KindInfo(
        "link",
        "a refusing cut between two parts: open connections are reset (RST), new ones reset "
        "once accepted",
        "the link forwards again",
        proxied=True,
    ),
    "lossy": KindInfo(
        "link",
        "each chunk either way resets its connection with probability PCT % (mid-stream)",
        "the link forwards again",
        PERCENT,
        10.0,
        True,
    ),
    "packet-loss": KindInfo(
        "link",
        "PCT % of the link's packets dropped at random, both ways (nftables numgen; TCP "
        "retransmits them)",
        "the nftables rules are deleted",
        PERCENT,
        10.0,
        True,
    ),
}
BUS_SCOPES = ("bus", "bus-node")


def _dose_text(dose: float) -> str:
    return f"{dose:g}"


@dataclass(frozen=True, order=True)
class Fault:
    """One fault: `kind` (a key of KINDS) aimed at `target` (a service, "bus", or for a
    bus-node fault the node's role: "leader" or "follower" of the event stream); a link fault
    joins `target` (the link's client) to `peer`; `dose` is its ms or %."""

    kind: str
    target: str
    peer: str = ""
    dose: float = 0.0

    @classmethod
    def parse(cls, text: str, impl: str | None = None, bus_nodes: int | None = None) -> Fault:
        """`kill-db:comments`, `kill-bus-node:leader`, `slow-db:posts:200`,
        `partition:comments,posts`, ...; checked against `impl`'s topology and the bus's size
        when given."""
        text = text.strip()
        body, dose_text = _split_dose(text)
        kind, sep, rest = body.partition(":")
        kind, rest = kind.strip(), rest.strip()
        kinds = ", ".join(KINDS)
        if not kind:
            raise FaultError(f"empty fault: expected KIND:SERVICE or kill-bus (kinds: {kinds})")
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}: choose from {kinds}")
        info = KINDS[kind]
        dose = _dose(kind, info, dose_text, text)
        if info.scope == "bus":
            if sep and rest not in ("", BUS):
                raise FaultError(f"{kind} takes no service (it acts on the whole bus): {text!r}")
            fault = cls(kind, BUS, dose=dose)
        elif info.scope == "bus-node":
            if rest not in ROLES:
                raise FaultError(
                    f"{kind} needs the node's role: {kind}:leader or {kind}:follower "
                    f"(of the event stream), got {text!r}"
                )
            fault = cls(kind, rest)
        elif info.scope == "link":
            a, b = _link_parts(kind, rest)
            fault = cls(kind, a, b, dose)
        else:
            if not rest:
                raise FaultError(
                    f"{kind} needs a service: {kind}:SERVICE (services: {', '.join(SERVICES)})"
                )
            if rest not in SERVICES:
                raise FaultError(f"unknown service {rest!r}: choose from {', '.join(SERVICES)}")
            fault = cls(kind, rest, dose=dose)
        if impl is not None:
            fault.check(impl, bus_nodes)
        return fault

    def check(self, impl: str, bus_nodes: int | None = None) -> None:
        """Raise FaultError unless this fault applies to implementation `impl` (with a bus of
        `bus_nodes` nodes, when given)."""
        if impl not in TOPOLOGY:
            raise FaultError(f"unknown implementation {impl!r}: choose from {', '.join(IMPLS)}")
        topology = TOPOLOGY[impl]
        scope = self.scope
        if scope in BUS_SCOPES and not any(spec.uses_bus for spec in topology.values()):
            raise FaultError(
                f"the {impl} implementation has no bus: nothing to {self.kind.split('-')[0]}; "
                f"a {impl} stack does not depend on one"
            )
        if scope == "bus-node" and bus_nodes is not None and bus_nodes < CLUSTER_NODES:
            raise FaultError(
                f"{self.kind} needs a bus cluster (--bus-nodes {CLUSTER_NODES}): this bus is "
                f"{bus_nodes} nats-server{'s' if bus_nodes > 1 else ''}; kill-bus takes it all"
            )
        if scope == "database" and not topology[self.target].owns_database:
            owners = ", ".join(n for n in SERVICES if topology[n].owns_database)
            raise FaultError(
                f"the {impl} {self.target} service owns no database: nothing to {self.kind} "
                f"(services with a database in {impl}: {owners})"
            )
        if scope == "link" and pair_between(impl, self.target, self.peer) is None:
            links = " ".join(str(p) for p in link_pairs(impl))
            raise FaultError(
                f"no link between {self.target} and {self.peer} in the {impl} implementation "
                f"(its links: {links})"
            )

    @property
    def info(self) -> KindInfo:
        return KINDS[self.kind]

    @property
    def scope(self) -> str:
        """ "database", "service", "bus", "bus-node" or "link"."""
        return self.info.scope

    @property
    def proxied(self) -> bool:
        return self.info.proxied

    @property
    def part(self) -> str:
        """What it acts on: "database comments", "service comments", "bus" (processes) or the
        links (gray faults). At most one fault per part, or per link, is active at a time."""
        if self.proxied:
            if self.scope == "link":
                return f"link {self.target},{self.peer}"
            if self.scope == "database":
                return f"link {self.target},{db_part(self.target)}"
            return "links to the bus" if self.scope == "bus" else f"links into {self.target}"
        return BUS if self.scope in BUS_SCOPES else f"{self.scope} {self.target}"

    def pairs(self, impl: str) -> frozenset[LinkPair]:
        """The links a gray fault acts on in `impl` (empty for the process faults)."""
        if not self.proxied:
            return frozenset()
        if self.scope == "database":
            return frozenset({LinkPair(self.target, db_part(self.target))})
        if self.scope == "service":
            return into(impl, self.target)
        if self.scope == "bus":
            return frozenset(p for p in link_pairs(impl) if p.server == BUS)
        pair = pair_between(impl, self.target, self.peer)
        return frozenset({pair}) if pair else frozenset()

    @property
    def component(self) -> str:
        """What `restore` names to undo it: its (first) service, or "bus" (for a node too)."""
        return self.restore_target

    @property
    def touches(self) -> frozenset[str]:
        """The restore targets that undo it: its service(s), or the bus."""
        if self.scope in BUS_SCOPES:
            return frozenset({BUS})
        parts = (self.target, self.peer) if self.scope == "link" else (self.target,)
        return frozenset(service_of(p) or p for p in parts if p and p != CLIENTS)

    @property
    def restore_target(self) -> str:
        """One restore target that undoes it (a service when it touches one)."""
        return next((t for t in (self.target, self.peer) if service_of(t)), BUS)

    @property
    def does(self) -> str:
        info = self.info
        if not info.unit:
            return info.does
        return info.does.replace("MS" if info.unit == MS else "PCT", _dose_text(self.dose))

    @property
    def restore_does(self) -> str:
        return self.info.restore

    def __str__(self) -> str:
        dose = f":{_dose_text(self.dose)}" if self.info.unit else ""
        if self.scope == "bus":
            return f"{self.kind}{dose}"
        if self.scope == "link":
            return f"{self.kind}:{self.target},{self.peer}{dose}"
        return f"{self.kind}:{self.target}{dose}"

    def describe(self) -> dict[str, str]:
        return {
            "fault": str(self),
            "kind": self.kind,
            "target": self.target,
            "peer": self.peer,
            "dose": f"{_dose_text(self.dose)} {self.info.unit}" if self.info.unit else "",
            "does": self.does,
            "restore": self.restore_does,
        }


def _split_dose(text: str) -> tuple[str, str | None]:
    """(the fault without its dose, the dose's text or None)."""
    if "@" in text:
        body, _, dose = text.partition("@")
        return body.strip(), dose.strip()
    body, sep, last = text.rpartition(":")
    if sep and _looks_numeric(last):
        return body.strip(), last.strip()
    return text, None


def _looks_numeric(text: str) -> bool:
    number = text.strip().removesuffix(MS).removesuffix(PERCENT).strip()
    try:
        float(number)
    except ValueError:
        return False
    return True


def _dose(kind: str, info: KindInfo, text: str | None, whole: str) -> float:
    if text is None:
        return info.default_dose
    if not info.unit:
        raise FaultError(f"{kind} takes no dose: {whole!r}")
    number = text.strip()
    for unit in (MS, PERCENT):
        if number.endswith(unit):
            if unit != info.unit:
                raise FaultError(f"{kind} takes a dose in {info.unit}, not {unit}: {whole!r}")
            number = number.removesuffix(unit).strip()
    try:
        dose = float(number)
    except ValueError:
        raise FaultError(f"{kind}: the dose is a number of {info.unit}, not {text!r}") from None
    limit = MAX_DOSE[info.unit]
    if not math.isfinite(dose) or dose < 0 or dose > limit:
        raise FaultError(
            f"{kind}: the dose must be between 0 and {limit:g} {info.unit}, got {text!r}"
        )
    return dose


def _link_parts(kind: str, rest: str) -> tuple[str, str]:
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) != 2 or not all(parts):
        raise FaultError(
            f"{kind} needs two parts: {kind}:A,B (e.g. {kind}:comments,posts, "
            f"{kind}:posts,db:posts, {kind}:posts,bus)"
        )
    for part in parts:
        if part not in PARTS:
            raise FaultError(
                f"unknown part {part!r}: choose from {', '.join(SERVICES)}, db:SERVICE, "
                f"{BUS}, {CLIENTS}"
            )
    a, b = parts
    if a == b:
        raise FaultError(f"{kind} needs two different parts: {a},{b} joins {a} to itself")
    if a not in SERVICES and b not in SERVICES:
        raise FaultError(f"no link joins {a} and {b}: a link has a service at one end")
    return canonical_order(a, b)


def parse_fault(text: str, impl: str | None = None, bus_nodes: int | None = None) -> Fault:
    """Fault.parse as a function."""
    return Fault.parse(text, impl, bus_nodes)


def applies(text: str, impl: str, bus_nodes: int | None = None) -> bool:
    """Whether fault `text` is valid and applies to implementation `impl` (with a bus of
    `bus_nodes` nodes, when given)."""
    try:
        Fault.parse(text, impl, bus_nodes)
    except FaultError:
        return False
    return True


def split_faults(text: str) -> list[str]:
    """A comma-separated list of faults, a link's comma kept: `kill:posts,partition:comments,
    posts` -> [`kill:posts`, `partition:comments,posts`]."""
    faults: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        kind = token.partition(":")[0].partition("@")[0].strip()
        if faults and kind not in KINDS:
            faults[-1] += "," + token
        else:
            faults.append(token)
    return faults


def catalogue(impl: str, bus_nodes: int = 1) -> list[Fault]:
    """Every fault implementation `impl` can take, doses at their defaults: each database
    (kill-db, freeze-db), each service (kill, freeze), the bus (kill-bus, async only), the gray
    faults (each database slow, each service slow, the bus slow, and every link cut, reset,
    lossy and dropping packets), then on a bus cluster of 3 or more nodes kill-bus-node and
    freeze-bus-node, on the leader and on a follower."""
    if impl not in TOPOLOGY:
        raise FaultError(f"unknown implementation {impl!r}: choose from {', '.join(IMPLS)}")
    topology = TOPOLOGY[impl]
    owners = [name for name in SERVICES if topology[name].owns_database]
    has_bus = any(spec.uses_bus for spec in topology.values())
    faults = [Fault(kind, name) for name in owners for kind in ("kill-db", "freeze-db")]
    faults += [Fault(kind, name) for name in SERVICES for kind in ("kill", "freeze")]
    if has_bus:
        faults.append(Fault("kill-bus", BUS))

    def dosed(kind: str, target: str, peer: str = "") -> Fault:
        return Fault(kind, target, peer, KINDS[kind].default_dose)

    faults += [dosed("slow-db", name) for name in owners]
    faults += [dosed("slow", name) for name in SERVICES]
    if has_bus:
        faults.append(dosed("slow-bus", BUS))
    faults += [
        dosed(kind, pair.client, pair.server)
        for pair in link_pairs(impl)
        for kind in ("partition", "partition-reset", "lossy", "packet-loss")
    ]
    if has_bus and bus_nodes >= CLUSTER_NODES:  # last: a cluster's catalogue extends a node's
        faults += [
            Fault(kind, role) for kind in ("kill-bus-node", "freeze-bus-node") for role in ROLES
        ]
    return faults


def check_target(target: str) -> str:
    """A restore target: a service name, "bus" or "all"."""
    target = target.strip()
    if target not in (*SERVICES, BUS, ALL):
        raise FaultError(
            f"unknown restore target {target!r}: choose a service ({', '.join(SERVICES)}), "
            f"{BUS} or {ALL}"
        )
    return target
