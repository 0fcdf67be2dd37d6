"""The bus of an async stack: one nats-server, or N of them on loopback as one JetStream cluster
(routes between them, a store per node), started together and stopped together; which node
leads the event stream, from the servers' own view (lab.stack.bus_view)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from lab.stack.bus_view import EVENT_STREAM, BusView
from lab.stack.nats_server import ClusterRoutes, NatsError, NatsServer
from lab.stack.net import free_port

CLUSTER_NAME = "lab-bus"


def distinct_ports(count: int) -> list[int]:
    """`count` free loopback ports, no two alike (free_port may hand out one twice)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class NatsCluster:
    """The bus: `nodes` nats-servers. One node is configured exactly as a lone server (no
    cluster block); more form a JetStream cluster named lab-bus, nodes lab-bus-0, lab-bus-1, ...
    stop() and start() keep every node's ports and store (a restart)."""

    def __init__(self, root: Path, log_dir: Path, nodes: int = 1) -> None:
        if nodes < 1:
            raise ValueError(f"a bus needs at least one node, not {nodes}")
        if nodes == 1:
            lone, monitor_port = distinct_ports(2)
            self.nodes = [NatsServer(root / "store", lone, monitor_port, log_dir)]
            return
        ports = distinct_ports(3 * nodes)
        client, monitor, route = ports[:nodes], ports[nodes : 2 * nodes], ports[2 * nodes :]
        routes = tuple(f"nats://127.0.0.1:{p}" for p in route)
        self.nodes = [
            NatsServer(
                root / f"node-{i}" / "store",
                client[i],
                monitor[i],
                log_dir,
                name=f"{CLUSTER_NAME}-{i}",
                cluster=ClusterRoutes(CLUSTER_NAME, route[i], routes),
                log_name=f"nats-server-{i}",
            )
            for i in range(nodes)
        ]

    # -- what it is ---------------------------------------------------------------------------
    @property
    def clustered(self) -> bool:
        return len(self.nodes) > 1

    @property
    def url(self) -> str:
        """The first node's URL (stack.json's `bus.url`, for readers that know one server)."""
        return self.nodes[0].url

    @property
    def urls(self) -> list[str]:
        """Every node's client URL: what clients connect with, so they fail over by themselves."""
        return [node.url for node in self.nodes]

    def node(self, name: str) -> NatsServer:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no bus node {name!r}: {', '.join(n.name for n in self.nodes)}")

    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.pid is not None]

    def exited(self) -> list[NatsServer]:
        """Nodes that were started and no longer run."""
        return [n for n in self.nodes if n.process is not None and not n.process.alive()]

    # -- start and stop -----------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> None:
        """Start every node and wait until each is healthy: for a cluster, that is once the
        nodes have found each other and agreed on a metadata leader (the cluster is formed)."""
        self.start_nodes(self.nodes, timeout_s)

    def start_nodes(self, nodes: Iterable[NatsServer], timeout_s: float = 30.0) -> None:
        chosen = list(nodes)
        try:
            for node in chosen:
                node.launch()
            deadline = time.monotonic() + timeout_s
            for node in chosen:
                node.await_healthy(max(1.0, deadline - time.monotonic()))
        except BaseException:
            for node in chosen:
                node.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    # -- the servers' own view ----------------------------------------------------------------
    def view(self, excluding: Iterable[str] = ()) -> BusView:
        """What the running nodes (but those excluded: e.g. a frozen one) report."""
        left_out = set(excluding)
        monitors = {n.name: n.monitor_url for n in self.nodes if n.name not in left_out and n.pid}
        return BusView.fetch(monitors)

    def stream_leader(self, stream: str = EVENT_STREAM) -> str | None:
        return self.view().leader(stream)

    def await_replicated(self, replicas: int, timeout_s: float = 60.0) -> None:
        """Until every stream and consumer on the cluster (the event stream among them) has a
        leader, `replicas` replicas and every replica current. A lone server: nothing to wait
        for (R1, and it is its own leader)."""
        if not self.clustered:
            return
        deadline = time.monotonic() + timeout_s
        while True:
            problems = self.view().problems(replicas, required=[EVENT_STREAM])
            if not problems:
                return
            if time.monotonic() > deadline:
                raise NatsError(
                    f"the bus cluster is not replicated R{replicas} after {timeout_s:.0f}s: "
                    + "; ".join(problems)
                )
            time.sleep(0.1)

    def await_stream_leader(self, timeout_s: float = 60.0, stream: str = EVENT_STREAM) -> float:
        """Seconds until a node leads `stream` in its own view (0 on a lone server)."""
        started = time.monotonic()
        if not self.clustered:
            return 0.0
        while self.stream_leader(stream) is None:
            if time.monotonic() - started > timeout_s:
                raise NatsError(f"{stream} has no leader after {timeout_s:.0f}s")
            time.sleep(0.05)
        return time.monotonic() - started
