"""Unit tests of the gray faults' text (doses, links, bad input), the links derived from the
topology, what the controller asks of the stack for each, and `lab fault`'s one-line errors;
against a fake stack (tests/unit/test_faults.py), no real one."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.cli.common import fault_texts
from lab.cli.main import main
from lab.stack.config import StackConfig
from lab.stack.control import ControlServer
from lab.stack.faults import (
    KINDS,
    Fault,
    FaultConflict,
    FaultError,
    applies,
    behaviour_of,
    catalogue,
    split_faults,
)
from lab.stack.links import LinkPair, canonical_order, into, link_pairs
from lab.stack.runner import Stack
from lab.stack.topology import TOPOLOGY
from lab.stack.toxics import Behaviour
from tests.unit.test_faults import FakeStack, actions


# --- text ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("slow-db:posts", "slow-db:posts:100"),  # the default dose
        ("slow-db:posts:200", "slow-db:posts:200"),
        ("slow-db:posts@200ms", "slow-db:posts:200"),
        ("slow-db:posts:200ms", "slow-db:posts:200"),
        ("slow-db:posts:0", "slow-db:posts:0"),  # the dose-response's baseline
        ("slow:query:12.5", "slow:query:12.5"),
        ("slow-bus", "slow-bus:100"),
        ("slow-bus:50", "slow-bus:50"),
        ("slow-bus@50ms", "slow-bus:50"),
        ("partition:comments,posts", "partition:comments,posts"),
        ("partition:posts,comments", "partition:comments,posts"),  # the caller first
        ("partition:db:posts,posts", "partition:posts,db:posts"),
        ("partition-reset:bus,comments", "partition-reset:comments,bus"),
        ("partition:posts,clients", "partition:clients,posts"),
        ("lossy:comments,posts", "lossy:comments,posts:10"),
        ("lossy:comments,posts:2.5%", "lossy:comments,posts:2.5"),
        ("lossy:posts,db:posts:10", "lossy:posts,db:posts:10"),
        ("packet-loss:query,comments@5%", "packet-loss:query,comments:5"),
    ],
)
def test_parse_gray_faults(text: str, canonical: str) -> None:
    fault = Fault.parse(text)
    assert str(fault) == canonical
    assert Fault.parse(str(fault)) == fault  # the text round-trips


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slow-db:posts:-5", "slow-db: the dose must be between 0 and 60000 ms, got '-5'"),
        ("slow-db:posts:1e9", "slow-db: the dose must be between 0 and 60000 ms"),
        ("slow-db:posts:nan", "slow-db: the dose must be between 0 and 60000 ms"),
        ("slow-db:posts@inf", "slow-db: the dose must be between 0 and 60000 ms"),
        ("slow-db:posts@fast", "slow-db: the dose is a number of ms, not 'fast'"),
        ("slow-db:posts:10%", "slow-db takes a dose in ms, not %"),
        ("lossy:comments,posts:150", "lossy: the dose must be between 0 and 100 %"),
        ("lossy:comments,posts:-1%", "lossy: the dose must be between 0 and 100 %"),
        ("partition:comments,posts:10", "partition takes no dose"),
        ("kill-db:posts:10", "kill-db takes no dose"),
        ("partition:posts,posts", "partition needs two different parts: posts,posts joins"),
        ("partition:posts", "partition needs two parts: partition:A,B"),
        ("partition:a,b,c", "partition needs two parts"),
        ("partition:posts,users", "unknown part 'users': choose from posts, comments"),
        ("partition:db:posts,bus", "no link joins db:posts and bus"),
        ("slow-db:users", "unknown service 'users'"),
        ("slow-bus:posts", "slow-bus takes no service"),
    ],
)
def test_bad_gray_faults_say_what_is_valid(text: str, message: str) -> None:
    with pytest.raises(FaultError) as error:
        Fault.parse(text)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_links_come_from_the_topology_of_each_implementation() -> None:
    with pytest.raises(FaultError, match="no link between comments and posts in the async"):
        Fault.parse("partition:comments,posts", "async")
    with pytest.raises(FaultError, match="no link between query and db:query in the sync"):
        Fault.parse("lossy:query,db:query", "sync")
    with pytest.raises(FaultError, match="the sync query service owns no database"):
        Fault.parse("slow-db:query", "sync")
    with pytest.raises(FaultError, match="no link between posts and db:comments"):
        Fault.parse("partition:posts,db:comments", "async")
    with pytest.raises(FaultError, match="the sync implementation has no bus: nothing to slow"):
        Fault.parse("slow-bus", "sync")
    with pytest.raises(FaultError, match="no link between comments and bus in the sync"):
        Fault.parse("partition:comments,bus", "sync")
    assert applies("partition:comments,bus", "async")
    assert not applies("partition:comments,bus", "sync")
    assert applies("slow-db:posts:200", "sync") and applies("slow-db:posts:200", "async")
    for impl in TOPOLOGY:  # every implementation, whatever it is called
        for pair in link_pairs(impl):
            assert canonical_order(pair.server, pair.client) == (pair.client, pair.server)
        for fault in catalogue(impl):
            assert applies(str(fault), impl)
            assert fault.pairs(impl) or not fault.proxied


def test_what_each_gray_fault_reaches() -> None:
    assert (
        Fault.parse("slow:posts").pairs("sync")
        == into("sync", "posts")
        == {
            LinkPair("clients", "posts"),
            LinkPair("comments", "posts"),
            LinkPair("query", "posts"),
        }
    )
    assert Fault.parse("slow:posts").pairs("async") == {LinkPair("clients", "posts")}
    assert Fault.parse("slow-bus").pairs("async") == {
        LinkPair(s, "bus") for s in ("posts", "comments", "moderation", "query")
    }
    assert Fault.parse("slow-db:comments").pairs("sync") == {LinkPair("comments", "db:comments")}
    assert Fault.parse("kill-db:comments").pairs("sync") == frozenset()
    # A restore of either service undoes a link fault; the experiment restores the first.
    partition = Fault.parse("partition:comments,posts")
    assert partition.touches == {"comments", "posts"} and partition.restore_target == "comments"
    assert Fault.parse("partition:clients,query").restore_target == "query"
    assert Fault.parse("lossy:posts,db:posts").touches == {"posts"}
    assert Fault.parse("slow-bus").touches == {"bus"}


def test_behaviours() -> None:
    slow = behaviour_of(Fault.parse("slow-db:posts:200"))
    assert slow == Behaviour(latency_ms=200, jitter_ms=20)
    assert behaviour_of(Fault.parse("partition:comments,posts")) == Behaviour(hold=True)
    assert behaviour_of(Fault.parse("partition-reset:comments,posts")) == Behaviour(refuse=True)
    assert behaviour_of(Fault.parse("lossy:comments,posts:5")) == Behaviour(reset_share=0.05)
    assert behaviour_of(Fault.parse("packet-loss:comments,posts")) is None
    assert Behaviour.from_json(slow.to_json()) == slow
    bad: object
    for bad in ({"latency_ms": -1}, {"jitter_ms": 5}, {"reset_share": 2}, {"speed": 1}, []):
        with pytest.raises(ValueError):
            Behaviour.from_json(bad)


def test_split_faults_keeps_a_links_comma() -> None:
    assert split_faults(
        "kill:posts,partition:comments,posts,slow-bus:50,lossy:posts,db:posts:5"
    ) == [
        "kill:posts",
        "partition:comments,posts",
        "slow-bus:50",
        "lossy:posts,db:posts:5",
    ]
    assert split_faults("kill-db:comments, kill-bus") == ["kill-db:comments", "kill-bus"]


def test_gray_and_bus_node_faults_share_one_grammar() -> None:
    """A bus cluster's node faults and the gray faults parse, list and restore side by side."""
    cluster = [str(f) for f in catalogue("async", bus_nodes=3)]
    assert "slow-bus:100" in cluster and "kill-bus-node:leader" in cluster
    assert "kill-bus-node:leader" not in [str(f) for f in catalogue("async")]
    node = Fault.parse("kill-bus-node:leader", "async", 3)
    assert node.touches == {"bus"} and node.restore_target == "bus" and node.dose == 0.0
    assert not applies("freeze-bus-node:follower", "async", 1)
    assert applies("slow-bus:50", "async", 3)
    assert split_faults("kill-bus-node:leader,partition:posts,bus") == [
        "kill-bus-node:leader",
        "partition:posts,bus",
    ]
    assert fault_texts("kill:posts,partition:comments,posts,slow-db:posts@200ms") == [
        "kill:posts",
        "partition:comments,posts",
        "slow-db:posts:200",
    ]


def test_each_node_of_a_bus_cluster_gets_its_own_link() -> None:
    """slow-bus on a cluster reaches every service's link to every node (`posts>bus#1`)."""
    from lab.stack.proxies import FaultProxies, link_name, pair_of

    proxies = FaultProxies(Path("/nonexistent"), Path("/nonexistent"))
    proxies.links = {
        link_name(LinkPair("posts", "bus"), i): {"listen": f"127.0.0.1:{5000 + i}", "upstream": ""}
        for i in range(3)
    }
    assert pair_of("posts>bus#2") == LinkPair("posts", "bus")
    pairs = Fault.parse("slow-bus", "async", 3).pairs("async")
    assert proxies.names(pairs) == ["posts>bus#0", "posts>bus#1", "posts>bus#2"]


# --- the controller --------------------------------------------------------------------------
def test_gray_faults_disturb_and_heal_their_links() -> None:
    stack = FakeStack("sync")
    record = stack.faults.inject("slow-db:posts:200")
    assert record.detail == "links disturbed" and record.pids == ()
    stack.faults.inject("partition:posts,comments")
    stack.faults.inject("packet-loss:query,posts:5")
    assert actions(stack) == [
        ("disturb_links", "posts,db:posts", repr(Behaviour(latency_ms=200.0, jitter_ms=20.0))),
        ("disturb_links", "comments,posts", repr(Behaviour(hold=True))),
        ("drop_packets", "query,posts", "5"),
    ]
    # slow:posts reaches every link into posts: two of them are faulted already.
    with pytest.raises(FaultConflict, match="already has an active fault .partition:comments"):
        stack.faults.inject("slow:posts")
    with pytest.raises(FaultConflict, match="restore posts first"):
        stack.faults.inject("lossy:db:posts,posts")
    stack.faults.inject("kill-db:posts")  # the process is another part than its link
    stack.calls.clear()
    result = stack.faults.restore("posts")  # every fault touching posts, links first
    assert [str(r.fault) for r in result.restored] == [
        "slow-db:posts:200",
        "partition:comments,posts",
        "packet-loss:query,posts:5",
        "kill-db:posts",
    ]
    assert actions(stack)[:3] == [
        ("heal_links", "posts,db:posts"),
        ("heal_links", "comments,posts"),
        ("stop_dropping", "query,posts"),
    ]
    # The CPU each component spent while the fault held (the fake adds a second per read).
    assert result.restored[0].cpu_s == {"posts": 4.0, "db:posts": 8.0}
    assert result.restored[0].to_dict()["dose"] == 200.0
    assert stack.faults.active() == []


def test_a_stack_without_fault_proxies_refuses_gray_faults(tmp_path: Path) -> None:
    stack = Stack(StackConfig("sync", tmp_path))  # not started: nothing runs
    stack.running = True  # as if it were, without its proxies
    with pytest.raises(FaultConflict, match="without fault proxies.*--fault-proxies"):
        stack.faults.inject("slow-db:posts:10")
    assert stack.faults.active() == []


# --- the control API and `lab fault` ---------------------------------------------------------
@pytest.fixture
def served() -> Iterator[tuple[FakeStack, ControlServer]]:
    stack = FakeStack("async")
    server = ControlServer(stack).start()  # type: ignore[arg-type]
    yield stack, server
    server.stop()


def post(server: ControlServer, fault: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        server.url + "/faults",
        data=json.dumps({"fault": fault}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    "fault",
    [
        "slow-db:posts:-5",
        "slow-db:posts:99999999",
        "partition:posts,posts",
        "partition:posts,users",
        "partition:comments,posts",  # async services call nobody: no such link
        "lossy:comments,bus:101",
    ],
)
def test_the_control_api_answers_400_to_bad_gray_faults(
    served: tuple[FakeStack, ControlServer], fault: str
) -> None:
    stack, server = served
    status, body = post(server, fault)
    assert status == 400 and "\n" not in body["error"], body
    assert actions(stack) == []


def test_lab_fault_gray_commands(
    served: tuple[FakeStack, ControlServer],
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack, server = served
    stack_file = tmp_path / "stack.json"  # type: ignore[operator]
    stack_file.write_text(json.dumps({"control": server.info}))
    where = str(stack_file)
    assert main(["fault", "slow-db", "posts", "250", "--stack", where]) == 0
    assert capsys.readouterr().out.startswith("injected slow-db:posts:250 at ")
    assert main(["fault", "partition", "bus", "comments", "--stack", where]) == 0
    assert "injected partition:comments,bus at " in capsys.readouterr().out
    # The bus's links: one of them is cut already.
    assert main(["fault", "slow-bus", "--stack", where]) == 2
    assert "(partition:comments,bus): restore comments first" in capsys.readouterr().err
    assert main(["fault", "slow", "query", "--stack", where]) == 0
    assert "injected slow:query:100 " in capsys.readouterr().out
    for argv, message in [
        (["slow-db", "posts", "-5"], "error: slow-db: the dose must be between 0 and 60000 ms"),
        (["lossy", "posts", "posts"], "error: lossy needs two different parts"),
        (["partition", "posts", "users"], "error: unknown part 'users'"),
    ]:
        assert main(["fault", *argv, "--stack", where]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
    assert len(stack.faults.active()) == 3


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_fault_command_has_a_help(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["fault", kind, "--help"])
    assert done.value.code == 0 and kind in capsys.readouterr().out
