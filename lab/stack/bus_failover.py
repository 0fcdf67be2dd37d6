"""What losing one node of the bus cluster did, from the servers' own view: which node it was
(the event stream's leader or a follower), who led the stream before and after, and how long
the stream and its consumers were without a leader. A watch polls the other nodes' monitoring
endpoints from the fault on and fills the record in (lab.stack.faults attaches it to the fault)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from lab.stack.bus_view import EVENT_STREAM

if TYPE_CHECKING:
    from lab.stack.bus_cluster import NatsCluster

Role = Literal["leader", "follower"]
ROLES: tuple[Role, ...] = ("leader", "follower")
POLL_S = 0.05  # the resolution of the times below (plus one monitoring request)
WATCH_S = 60.0  # give up looking for a new leader after this long


@dataclass
class BusFailover:
    """One bus node taken away, and the election that followed (times in seconds from the
    fault; None while not seen yet, or never within WATCH_S)."""

    node: str  # the node faulted, e.g. lab-bus-1
    role: Role  # what it was for the event stream when faulted
    stream: str
    leader_before: str
    injected_at: float  # epoch seconds
    leader_after: str | None = None
    stream_leader_s: float | None = None  # until a live node leads the stream in its own view
    consumers_leader_s: float | None = None  # until every consumer of it has such a leader
    consumers: int = 0  # how many consumers of the stream there were
    poll_s: float = POLL_S
    watching: bool = True
    node_back: bool = False  # restored: from then on the node is asked too

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def what(self) -> str:
        """ "the leader of BLOG_EVENTS" or "a follower of BLOG_EVENTS"."""
        return f"{'the leader' if self.role == 'leader' else 'a follower'} of {self.stream}"

    def summary(self) -> str:
        """One line: e.g. "lab-bus-1 (the leader of BLOG_EVENTS): lab-bus-2 leads it after
        5.31 s, every consumer led after 5.40 s"."""
        head = f"{self.node} ({self.what})"
        if self.stream_leader_s is None:
            return f"{head}: {'no leader yet' if self.watching else 'no new leader seen'}"
        line = f"{head}: {self.leader_after} leads it after {self.stream_leader_s:.2f} s"
        if self.consumers_leader_s is not None:
            line += f", every consumer led after {self.consumers_leader_s:.2f} s"
        return line


class FailoverWatch:
    """Polls the nodes until the stream and each of its consumers has a leader again (for a
    follower fault: at once), or WATCH_S passes. The faulted node is left out until it is
    restored: a frozen one would cost every poll its timeout."""

    def __init__(self, cluster: NatsCluster, failover: BusFailover, consumers: list[str]) -> None:
        self.cluster = cluster
        self.failover = failover
        self.consumer_keys = consumers
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"failover-{failover.node}", daemon=True
        )

    def start(self) -> FailoverWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        f = self.failover
        try:
            while not self._stop.is_set() and time.time() - f.injected_at < WATCH_S:
                view = self.cluster.view(excluding=[] if f.node_back else [f.node])
                now = time.time()
                if f.stream_leader_s is None:
                    leader = view.leader(f.stream)
                    if leader is not None:
                        f.leader_after, f.stream_leader_s = leader, now - f.injected_at
                if f.consumers_leader_s is None and all(
                    view.leader(key) for key in self.consumer_keys
                ):
                    f.consumers_leader_s = now - f.injected_at
                if f.stream_leader_s is not None and f.consumers_leader_s is not None:
                    return
                self._stop.wait(POLL_S)
        finally:
            f.watching = False


def pick_node(cluster: NatsCluster, role: Role) -> tuple[str, str]:
    """(the node to fault, the event stream's leader now): its leader, or a follower of it.
    ValueError when the stream has no leader at the moment (e.g. an election is under way)."""
    view = cluster.view()
    leader = view.leader(EVENT_STREAM)
    if leader is None:
        raise ValueError(f"{EVENT_STREAM} has no leader right now: try again in a few seconds")
    if role == "leader":
        return leader, leader
    followers = [n.name for n in cluster.nodes if n.name != leader and n.pid is not None]
    if not followers:
        raise ValueError(f"{EVENT_STREAM} has no running follower")
    return followers[0], leader


def consumers_of(cluster: NatsCluster, stream: str = EVENT_STREAM) -> list[str]:
    """The consumers of `stream` the running nodes know ("STREAM/CONSUMER")."""
    return sorted(k for k in cluster.view().keys() if k.startswith(f"{stream}/"))
