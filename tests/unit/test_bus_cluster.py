"""Unit tests of the bus as a cluster, without servers: the replica count a stack asks for, the
nodes' configuration, reading the servers' own view (/jsz answers shaped as nats-server 2.x
writes them), the bus-node faults and their election watch on a scripted cluster, stack.json's
bus entry, the streams' configuration check and the R1-vs-R3 comparison's table."""

from __future__ import annotations

import argparse
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from async_impl import bus
from benchmarks.suite import bus_nodes
from lab.cli.bounds import one_or_more
from lab.cli.main import main
from lab.cli.up import BUS_NODES
from lab.stack import bus_failover
from lab.stack.bus_cluster import NatsCluster
from lab.stack.bus_view import EVENT_STREAM, BusView, parse_jsz
from lab.stack.config import StackOptions
from lab.stack.faults import FaultConflict, FaultController
from lab.stack.stackfile import StackInfo, bus_monitors, bus_pids, bus_urls


# --- the replica count -----------------------------------------------------------------------
def test_streams_are_r3_on_a_cluster_of_three_and_r1_on_a_lone_server() -> None:
    assert StackOptions().stream_replica_count() == 1
    assert StackOptions().service_env() == {}  # R1: the services' own default
    assert StackOptions(bus_nodes=3).stream_replica_count() == 3
    assert StackOptions(bus_nodes=5).stream_replica_count() == 3
    assert StackOptions(bus_nodes=3).service_env() == {"LAB_STREAM_REPLICAS": "3"}
    assert StackOptions(bus_nodes=5, stream_replicas=5).stream_replica_count() == 5
    assert StackOptions(bus_nodes=3, stream_replicas=1).service_env() == {}


@pytest.mark.parametrize(
    ("nodes", "replicas", "message"),
    [
        (2, None, "a cluster of 2 loses its quorum"),
        (0, None, "bus nodes: 1, or 3 or more"),
        (1, 3, "stream replicas: 1 to 1 on 1 bus node"),
        (7, 6, "stream replicas: 1 to 5 on 7 bus node"),
    ],
)
def test_impossible_buses_are_refused(nodes: int, replicas: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StackOptions(bus_nodes=nodes, stream_replicas=replicas)


# --- the nodes ---------------------------------------------------------------------------------
def test_a_lone_server_is_configured_as_before(tmp_path: Path) -> None:
    (server,) = NatsCluster(tmp_path / "nats", tmp_path / "logs", 1).nodes
    text = server.config_text()
    assert "cluster" not in text and "server_name: lab-bus\n" in text
    assert server.store_dir == tmp_path / "nats" / "store"
    assert server.log_path == tmp_path / "logs" / "nats-server.log"


def test_a_cluster_is_three_routed_nodes_each_with_its_store_fsyncing_every_write(
    tmp_path: Path,
) -> None:
    cluster = NatsCluster(tmp_path / "nats", tmp_path / "logs", 3)
    assert cluster.clustered and [n.name for n in cluster.nodes] == [
        "lab-bus-0",
        "lab-bus-1",
        "lab-bus-2",
    ]
    ports = [p for n in cluster.nodes for p in (n.port, n.monitor_port)]
    ports += [n.cluster.port for n in cluster.nodes if n.cluster]
    assert len(set(ports)) == 9  # nothing shared
    assert len({n.store_dir for n in cluster.nodes}) == 3
    assert cluster.urls == [n.url for n in cluster.nodes] and cluster.url == cluster.urls[0]
    routes = {f"nats://127.0.0.1:{n.cluster.port}" for n in cluster.nodes if n.cluster}
    for node in cluster.nodes:
        text = node.config_text()
        assert re.search(r"^\s*sync_interval: always$", text, re.M), node.name  # durability
        assert f"server_name: {node.name}\n" in text and "  name: lab-bus\n" in text
        assert set(re.findall(r"nats://127\.0\.0\.1:\d+", text)) == routes
        assert "127.0.0.1" in text and "0.0.0.0" not in text  # loopback only
        assert "  no_advertise: true\n" in text  # clients keep to their (proxied) URLs


# --- the servers' own view -----------------------------------------------------------------
def jsz(leader: str | None, peers: dict[str, bool], consumers: dict[str, str | None]) -> dict:
    """A /jsz?streams=true&consumers=true answer: BLOG_EVENTS led by `leader`, with `peers`
    (name -> current) and its consumers (name -> leader)."""

    def cluster(lead: str | None) -> dict[str, Any]:
        return {
            "name": "lab-bus",
            "leader": lead or "",
            "replicas": [{"name": n, "current": c, "active": 1} for n, c in peers.items()],
        }

    return {
        "account_details": [
            {
                "name": "$G",
                "stream_detail": [
                    {
                        "name": EVENT_STREAM,
                        "cluster": cluster(leader),
                        "state": {"messages": 42},
                        "consumer_detail": [
                            {"name": name, "cluster": cluster(lead)}
                            for name, lead in consumers.items()
                        ],
                    }
                ],
            }
        ]
    }


def test_parse_jsz_reads_streams_and_consumers() -> None:
    assets = parse_jsz(jsz("a", {"b": True, "c": False}, {"query": "b"}))
    stream = assets[EVENT_STREAM]
    assert (stream.leader, stream.peers, stream.current, stream.messages) == (
        "a",
        ("b", "c"),
        ("b",),
        42,
    )
    assert stream.replicas == 3 and assets[f"{EVENT_STREAM}/query"].leader == "b"
    assert parse_jsz({}) == {}


def view(**answers: dict) -> BusView:
    return BusView({node: parse_jsz(answer) for node, answer in answers.items()})


def test_a_leader_is_one_that_names_itself_and_a_quorum_agrees() -> None:
    both = {"b": True, "c": True}
    # A killed leader: its peers still name it until they elect another; nobody leads.
    assert view(b=jsz("a", both, {}), c=jsz("a", both, {})).leader(EVENT_STREAM) is None
    # Elected, but only the new leader says so yet: no quorum of the three replicas.
    assert view(b=jsz("b", both, {}), c=jsz(None, both, {})).leader(EVENT_STREAM) is None
    assert view(b=jsz("b", both, {}), c=jsz("b", both, {})).leader(EVENT_STREAM) == "b"
    # A thawed old leader names itself for a moment; its peers have moved on to b.
    moved_on = view(a=jsz("a", both, {}), b=jsz("b", both, {}), c=jsz("b", both, {}))
    assert moved_on.leader(EVENT_STREAM) == "b"


def test_problems_say_what_is_not_replicated_yet() -> None:
    current = {"b": True, "c": True}
    ready = view(
        a=jsz("a", current, {"query": "b"}),
        b=jsz("a", current, {"query": "b"}),
        c=jsz("a", current, {"query": "b"}),
    )
    assert ready.problems(3, required=[EVENT_STREAM]) == []
    assert ready.problems(1) == [
        f"{EVENT_STREAM}: R3, not R1",
        f"{EVENT_STREAM}/query: R3, not R1",
    ]
    behind = view(a=jsz("a", {"b": True, "c": False}, {}), b=jsz("a", current, {}))
    assert behind.problems(3) == [f"{EVENT_STREAM}: replica(s) c not current"]
    assert view(a={}).problems(3, required=[EVENT_STREAM]) == [f"{EVENT_STREAM}: not on the bus"]
    leaderless = view(a=jsz(None, current, {}))
    assert leaderless.problems(3) == [f"{EVENT_STREAM}: no leader"]


# --- bus-node faults on a scripted cluster ---------------------------------------------------
class ScriptedCluster:
    """A three-node cluster whose views are scripted: lab-bus-1 leads the stream and both
    consumers until it is faulted; from `elected_after` seconds later lab-bus-2 does."""

    def __init__(self, elected_after: float) -> None:
        self.nodes = [
            SimpleNamespace(name=f"lab-bus-{i}", pid=100 + i, url=f"nats://127.0.0.1:{i}")
            for i in range(3)
        ]
        self.clustered = True
        self.elected_after = elected_after
        self.faulted_at: float | None = None

    def node(self, name: str) -> SimpleNamespace:
        return next(n for n in self.nodes if n.name == name)

    def view(self, excluding: list[str] | tuple[str, ...] = ()) -> BusView:
        now = time.time()
        elected = self.faulted_at is not None and now - self.faulted_at >= self.elected_after
        leader = "lab-bus-2" if elected else "lab-bus-1"
        answers = {}
        for node in self.nodes:
            if node.name in excluding:
                continue
            peers = {n.name: True for n in self.nodes if n is not node}
            answers[node.name] = jsz(leader, peers, {"comments": leader, "query": "lab-bus-0"})
        return view(**answers)


class BusStack:
    """What FaultController uses of a Stack with a scripted bus cluster."""

    def __init__(self, elected_after: float) -> None:
        self.config = SimpleNamespace(impl="async", options=StackOptions(bus_nodes=3))
        self.lock = threading.RLock()
        self.running = True
        self.bus = ScriptedCluster(elected_after)
        self.calls: list[tuple[str, ...]] = []
        self.faults = FaultController(self)  # type: ignore[arg-type]

    def as_owner(self, work: Any) -> Any:
        return work()

    def write_stack_file(self) -> None:
        pass

    def cpu_seconds(self) -> dict[str, float]:
        return {"bus": 0.0}

    def kill_bus_node(self, name: str) -> int:
        self.calls.append(("kill_bus_node", name))
        self.bus.faulted_at = time.time()
        return self.bus.node(name).pid

    def freeze_bus_node(self, name: str) -> list[int]:
        self.calls.append(("freeze_bus_node", name))
        self.bus.faulted_at = time.time()
        return [self.bus.node(name).pid]

    def restart_bus_node(self, name: str) -> float:
        self.calls.append(("restart_bus_node", name))
        return 0.5

    def thaw(self, pids: list[int]) -> list[int]:
        self.calls.append(("thaw", *map(str, pids)))
        return pids


def settled(failover: bus_failover.BusFailover, timeout_s: float = 5.0) -> None:
    deadline = time.time() + timeout_s
    while failover.watching and time.time() < deadline:
        time.sleep(0.01)


def test_killing_the_leader_records_the_node_and_the_election() -> None:
    stack = BusStack(elected_after=0.3)
    record = stack.faults.inject("kill-bus-node:leader")
    assert stack.calls == [("kill_bus_node", "lab-bus-1")]
    assert record.detail == (
        f"nats-server lab-bus-1 (the leader of {EVENT_STREAM}) pid 101 SIGKILLed"
    )
    failover = record.bus
    assert failover is not None and failover.role == "leader" and failover.consumers == 2
    settled(failover)
    assert failover.leader_before == "lab-bus-1" and failover.leader_after == "lab-bus-2"
    assert failover.stream_leader_s is not None and 0.3 <= failover.stream_leader_s < 2
    assert failover.consumers_leader_s is not None and failover.consumers_leader_s >= 0.3
    assert "lab-bus-2 leads it after" in failover.summary()
    assert record.to_dict()["bus"]["node"] == "lab-bus-1"
    result = stack.faults.restore("bus")  # a node's fault is undone by restoring the bus
    assert [str(r.fault) for r in result.restored] == ["kill-bus-node:leader"]
    assert stack.calls[-1] == ("restart_bus_node", "lab-bus-1")
    assert "current with the cluster after 0.50 s" in result.restored[0].restore_detail


def test_freezing_a_follower_leaves_the_leader_in_place() -> None:
    stack = BusStack(elected_after=3600)  # no election: the leader was not touched
    record = stack.faults.inject("freeze-bus-node:follower")
    assert stack.calls == [("freeze_bus_node", "lab-bus-0")]
    assert record.bus is not None and record.bus.role == "follower"
    settled(record.bus)
    assert record.bus.leader_after == "lab-bus-1" and record.bus.stream_leader_s is not None
    with pytest.raises(FaultConflict, match="already has an active fault"):
        stack.faults.inject("kill-bus")  # one fault on the bus at a time
    stack.faults.restore("all")
    assert stack.calls[-1] == ("thaw", "100")


def test_no_leader_no_fault() -> None:
    stack = BusStack(elected_after=0)
    stack.bus.faulted_at = time.time() - 1  # everyone names lab-bus-2 ...
    stack.bus.node("lab-bus-2").name = "lab-bus-9"  # ... which is not one of them
    with pytest.raises(FaultConflict, match="has no leader right now"):
        stack.faults.inject("kill-bus-node:leader")
    assert stack.faults.active() == []


# --- stack.json, the services' side ---------------------------------------------------------
def test_bus_readers_keep_working_with_an_old_stack_file() -> None:
    old: StackInfo = {  # written before the bus had nodes
        "impl": "async",
        "services": {},
        "databases": {},
        "processes": {},
        "runner_pid": 1,
        "bus": {"url": "nats://127.0.0.1:1", "pid": 5, "monitor": "http://127.0.0.1:2", "log": ""},
    }
    assert (bus_urls(old), bus_pids(old), bus_monitors(old)) == (
        ["nats://127.0.0.1:1"],
        [5],
        ["http://127.0.0.1:2"],
    )
    nodes = [
        {"name": f"n{i}", "url": f"nats://h:{i}", "pid": i, "monitor": f"m{i}", "log": ""}
        for i in range(3)
    ]
    new: StackInfo = {**old, "bus": {**old["bus"], "nodes": nodes}}  # type: ignore[typeddict-item]
    assert bus_urls(new) == ["nats://h:0", "nats://h:1", "nats://h:2"]
    assert bus_pids(new) == [0, 1, 2]
    assert bus.servers(" nats://a:1, nats://b:2 ,") == ["nats://a:1", "nats://b:2"]
    assert bus.servers("nats://a:1") == ["nats://a:1"]


def test_the_runner_watches_the_stream_the_services_create() -> None:
    assert EVENT_STREAM == bus.EVENTS  # lab.stack cannot import async_impl: checked here


def test_an_existing_stream_is_updated_only_where_it_differs() -> None:
    r1, r3 = bus.stream_configs(1)[0], bus.stream_configs(3)[0]
    assert bus.differs(r1, r1) == [] and bus.differs(r1, r3) == ["num_replicas"]
    reordered = bus.stream_configs(3)[0]
    reordered.subjects = list(reversed(reordered.subjects or []))
    assert bus.differs(reordered, r3) == []
    assert [c.num_replicas for c in bus.stream_configs(3)] == [3, 3]  # the dead letters too


# --- lab bench --bus-nodes -------------------------------------------------------------------
def test_bus_sizes_to_compare(capsys: pytest.CaptureFixture[str]) -> None:
    sizes = one_or_more(BUS_NODES)
    assert sizes("1,3") == [1, 3] and sizes("3") == [3]
    for bad in ("2", "x", "", "0", "1,2", "-3"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be 1, or 3 or more"):
            sizes(bad)
    for argv, message in (
        (["--impl", "async", "--bus-nodes", "1,1"], "--bus-nodes: each count once"),
        (["--impl", "sync,async", "--bus-nodes", "1,3"], "compares bus sizes: --impl async"),
        (["--impl", "async", "--bus-nodes", "3", "--attach", "x"], "--attach"),
    ):
        assert main(["bench", *argv]) == 2
        assert message in capsys.readouterr().err


def run(count: int, repetition: int, publish_p50: float) -> bus_nodes.BusNodesRun:
    return {
        "bus_nodes": count,
        "stream_replicas": 3 if count == 3 else 1,
        "repetition": repetition,
        "offered_rate": 50.0,
        "achieved_rate": 50.0,
        "error_rate": 0.0,
        "steal_percent": 0.0,
        "publish_ms": {"count": 100, "p50_ms": publish_p50, "p99_ms": 2 * publish_p50},
        "operations_ms": {"CreatePost": {"count": 10, "p50_ms": 3.0, "p99_ms": 9.0}},
        "visibility_lag_ms": {},
        "cpu_s_per_1000_ok": {"all": 10.0, "nats-server": 1.0},
    }


def test_the_comparison_table_gives_spreads_and_calls_differences_beyond_them() -> None:
    runs = [run(1, 1, 0.4), run(3, 1, 1.1), run(3, 2, 1.3), run(1, 2, 0.5)]
    figures = bus_nodes.figures(runs)
    assert figures[3]["publish p50 ms"]["values"] == [1.1, 1.3]
    text = bus_nodes.table(runs)
    lines = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    assert "1 node (R1)" in text and "3 nodes (R3)" in text
    assert lines["publish p50 ms"].endswith("differs")
    assert (
        "0.45 [0.4-0.5]" in lines["publish p50 ms"] and "1.2 [1.1-1.3]" in lines["publish p50 ms"]
    )
    assert lines["CreatePost p50 ms"].endswith("~")  # the same in both: within the spread
    assert "runs per bus size: 1: 2, 3: 2" in text
