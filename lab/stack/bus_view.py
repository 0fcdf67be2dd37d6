"""The bus as its servers see it: who leads each stream and consumer, and whether every replica
is current, read from each nats-server's own monitoring endpoint (`/jsz`). Parsing is pure
(tested on recorded answers); fetching is one HTTP GET per node with a short timeout, so a frozen
node costs its timeout and nothing more."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The event store (async_impl.bus.EVENTS; lab.stack does not import the implementations, a unit
# test checks that the two agree). Its leader is the node a leader fault aims at.
EVENT_STREAM = "BLOG_EVENTS"


@dataclass(frozen=True)
class Asset:
    """A stream, or a consumer of one ("STREAM/CONSUMER"), as one node reports it."""

    key: str
    leader: str | None  # the node this one believes leads it (None: no leader known)
    peers: tuple[str, ...]  # the other replicas, as this node lists them
    current: tuple[str, ...]  # those of `peers` this node reports current
    messages: int | None = None  # streams only

    @property
    def replicas(self) -> int:
        return 1 + len(self.peers)


def parse_jsz(jsz: Mapping[str, Any]) -> dict[str, Asset]:
    """The streams and consumers in one node's `/jsz?streams=true&consumers=true` answer,
    by key ("BLOG_EVENTS", "BLOG_EVENTS/query")."""
    assets: dict[str, Asset] = {}
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            name = stream["name"]
            assets[name] = _asset(name, stream.get("cluster") or {}, stream.get("state") or {})
            for consumer in stream.get("consumer_detail") or []:
                key = f"{name}/{consumer['name']}"
                assets[key] = _asset(key, consumer.get("cluster") or {}, None)
    return assets


def _asset(key: str, cluster: Mapping[str, Any], state: Mapping[str, Any] | None) -> Asset:
    peers = cluster.get("replicas") or []
    return Asset(
        key=key,
        leader=cluster.get("leader") or None,
        peers=tuple(p["name"] for p in peers),
        current=tuple(p["name"] for p in peers if p.get("current")),
        messages=int(state.get("messages", 0)) if state is not None else None,
    )


def fetch_jsz(monitor_url: str, timeout_s: float = 0.5) -> dict[str, Any] | None:
    """One node's `/jsz` with streams and consumers; None when it does not answer in time."""
    url = f"{monitor_url}/jsz?streams=true&consumers=true"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            answer: dict[str, Any] = json.load(reply)
            return answer
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class BusView:
    """What the nodes that answered report: node name -> its assets."""

    nodes: Mapping[str, Mapping[str, Asset]]

    @classmethod
    def fetch(cls, monitors: Mapping[str, str], timeout_s: float = 0.5) -> BusView:
        """Ask every node (name -> monitoring URL); those that do not answer are left out."""
        seen: dict[str, dict[str, Asset]] = {}
        for name, url in monitors.items():
            jsz = fetch_jsz(url, timeout_s)
            if jsz is not None:
                seen[name] = parse_jsz(jsz)
        return cls(seen)

    def keys(self) -> set[str]:
        return {key for assets in self.nodes.values() for key in assets}

    def leader(self, key: str) -> str | None:
        """The node that leads `key`: it names itself the leader, and so do enough of the
        nodes that answered to make a quorum of the asset's replicas. (A node that was frozen
        names itself for a moment after its peers elected another; the peers of a killed
        leader name it until they elect a new one.) None while there is no such node."""
        for node, assets in self.nodes.items():
            asset = assets.get(key)
            if asset is None or asset.leader != node:
                continue
            agreeing = sum(1 for a in self.nodes.values() if key in a and a[key].leader == node)
            if agreeing >= asset.replicas // 2 + 1:
                return node
        return None

    def lead_view(self, key: str) -> Asset | None:
        """`key` as its leader reports it (only the leader knows whether its peers are current)."""
        leader = self.leader(key)
        return self.nodes[leader][key] if leader is not None else None

    def problems(self, replicas: int, required: Iterable[str] = ()) -> list[str]:
        """Why the bus is not (yet) replicated as asked: each asset (every `required` one
        among them) led by a node, with `replicas` replicas, every peer current. Empty: it is."""
        found = []
        keys = self.keys()
        found += [f"{key}: not on the bus" for key in required if key not in keys]
        for key in sorted(keys):
            view = self.lead_view(key)
            if view is None:
                found.append(f"{key}: no leader")
            elif view.replicas != replicas:
                found.append(f"{key}: R{view.replicas}, not R{replicas}")
            elif len(view.current) != len(view.peers):
                behind = sorted(set(view.peers) - set(view.current))
                found.append(f"{key}: replica(s) {', '.join(behind)} not current")
        return found
