"""Unit tests of the faults (parsing, catalogue, validation), their controller's bookkeeping,
the control API (auth, errors, client) and `lab fault`, against a fake stack (no real stack)."""

from __future__ import annotations

import json
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from lab.cli.main import main
from lab.cli.up import report_exits
from lab.stack.config import StackOptions
from lab.stack.control import ControlClient, ControlError, ControlServer
from lab.stack.faults import (
    KINDS,
    Fault,
    FaultConflict,
    FaultController,
    FaultError,
    catalogue,
    check_target,
    parse_fault,
)
from lab.stack.freezing import freeze_tree, thaw_pids
from lab.stack.links import LinkPair
from lab.stack.runner import Stack, StackConfig
from lab.stack.stackfile import load_stack_file
from lab.stack.topology import SERVICES
from lab.stack.toxics import Behaviour


# --- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("kill-db:comments", "kill-db", "comments"),
        ("freeze-db:posts", "freeze-db", "posts"),
        ("kill:query", "kill", "query"),
        (" freeze : moderation ", "freeze", "moderation"),
        ("kill-bus", "kill-bus", "bus"),
        ("kill-bus:bus", "kill-bus", "bus"),
    ],
)
def test_parse(text: str, kind: str, target: str) -> None:
    fault = Fault.parse(text)
    assert (fault.kind, fault.target) == (kind, target)
    assert Fault.parse(str(fault)) == fault  # the text round-trips


def test_text_and_parts() -> None:
    assert str(Fault("kill-db", "comments")) == "kill-db:comments"
    assert str(Fault("kill-bus", "bus")) == "kill-bus"
    # kill-db and freeze-db act on the same processes; kill-db and kill do not.
    assert Fault.parse("kill-db:comments").part == Fault.parse("freeze-db:comments").part
    assert Fault.parse("kill-db:comments").part != Fault.parse("kill:comments").part
    assert Fault.parse("kill-bus").part == "bus"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty fault"),
        ("explode:posts", "unknown fault kind 'explode': choose from kill-db, freeze-db"),
        ("kill-db", "kill-db needs a service: kill-db:SERVICE (services: posts, comments"),
        ("kill:", "kill needs a service"),
        ("kill:users", "unknown service 'users': choose from posts, comments, moderation, query"),
        ("kill-bus:posts", "kill-bus takes no service"),
    ],
)
def test_parse_errors_say_what_is_valid(text: str, message: str) -> None:
    with pytest.raises(FaultError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Fault.parse(text)


def test_validation_against_the_topology() -> None:
    with pytest.raises(FaultError) as error:
        parse_fault("kill-bus", "sync")
    assert str(error.value) == (
        "the sync implementation has no bus: nothing to kill; a sync stack does not depend on one"
    )
    for kind in ("kill-db", "freeze-db"):
        with pytest.raises(FaultError, match="the sync query service owns no database") as error:
            parse_fault(f"{kind}:query", "sync")
        assert "posts, comments, moderation" in str(error.value)
        assert parse_fault(f"{kind}:query", "async") == Fault(kind, "query")
    assert parse_fault("kill:query", "sync") == Fault("kill", "query")
    assert parse_fault("kill-bus", "async") == Fault("kill-bus", "bus")
    with pytest.raises(FaultError, match="unknown implementation"):
        parse_fault("kill:posts", "rust")


# --- the catalogue ---------------------------------------------------------------------------
def test_catalogue_sync() -> None:
    faults = [str(f) for f in catalogue("sync")]
    clean = [
        "kill-db:posts",
        "freeze-db:posts",
        "kill-db:comments",
        "freeze-db:comments",
        "kill-db:moderation",
        "freeze-db:moderation",
        *(f"{kind}:{name}" for name in SERVICES for kind in ("kill", "freeze")),
    ]
    assert faults[: len(clean)] == clean
    gray = faults[len(clean) :]
    assert gray[:7] == [
        "slow-db:posts:100",
        "slow-db:comments:100",
        "slow-db:moderation:100",
        *(f"slow:{name}:100" for name in SERVICES),
    ]
    # Every link of the sync topology: the clients to each service, each database, the calls.
    links = {f"{f.target},{f.peer}" for f in catalogue("sync") if f.scope == "link"}
    assert links == {
        *(f"clients,{name}" for name in SERVICES),
        *(f"{name},db:{name}" for name in ("posts", "comments", "moderation")),
        "comments,posts",
        "comments,moderation",
        "query,posts",
        "query,comments",
    }
    assert "partition:comments,posts" in gray and "lossy:comments,posts:10" in gray
    assert not any("bus" in f for f in faults)


def test_catalogue_async() -> None:
    faults = catalogue("async")
    texts = [str(f) for f in faults]
    assert len(texts) == len(set(texts))
    assert texts[: 4 * 2 + 4 * 2 + 1][-1] == "kill-bus"
    assert {f"kill-db:{name}" for name in SERVICES} <= set(texts)
    # Async services call nobody: their links are the clients', their databases' and the bus's.
    assert "slow-bus:100" in texts and "partition:comments,bus" in texts
    assert not any(f.startswith("partition:comments,posts") for f in texts)
    for fault in faults:  # every entry is valid for its implementation
        assert parse_fault(str(fault), "async") == fault
    for fault in catalogue("sync"):
        assert parse_fault(str(fault), "sync") == fault
    cluster = catalogue("async", bus_nodes=3)  # a bus cluster: one node can be taken too
    assert [str(f) for f in cluster[len(faults) :]] == [
        "kill-bus-node:leader",
        "kill-bus-node:follower",
        "freeze-bus-node:leader",
        "freeze-bus-node:follower",
    ]
    assert {f.kind for f in cluster} == set(KINDS)
    assert catalogue("sync", bus_nodes=3) == catalogue("sync")


@pytest.mark.parametrize("kind", ["kill-bus-node", "freeze-bus-node"])
def test_bus_node_faults_name_a_role_and_need_a_cluster(kind: str) -> None:
    for role in ("leader", "follower"):
        fault = Fault.parse(f"{kind}:{role}", "async", bus_nodes=3)
        assert (fault.target, fault.component, fault.part) == (role, "bus", "bus")
        assert str(fault) == f"{kind}:{role}"
    with pytest.raises(FaultError, match=f"^{kind} needs the node's role: {kind}:leader or"):
        Fault.parse(kind)
    with pytest.raises(FaultError, match="needs the node's role"):
        Fault.parse(f"{kind}:comments")
    with pytest.raises(FaultError, match=r"needs a bus cluster \(--bus-nodes 3\): this bus is 1 "):
        Fault.parse(f"{kind}:leader", "async", bus_nodes=1)
    with pytest.raises(FaultError, match="no bus"):
        Fault.parse(f"{kind}:leader", "sync")
    # One fault on the bus at a time, whichever: they share a part and a restore target.
    assert Fault.parse(f"{kind}:leader").part == Fault.parse("kill-bus").part


def test_restore_targets() -> None:
    assert check_target("comments") == "comments"
    assert check_target(" bus ") == "bus"
    assert check_target("all") == "all"
    with pytest.raises(FaultError, match="choose a service .*, bus or all"):
        check_target("everything")


# --- the controller, on a fake stack ---------------------------------------------------------
class FakeStack:
    """What FaultController and ControlServer use of a Stack; records the primitives called."""

    def __init__(self, impl: str) -> None:
        self.config = SimpleNamespace(impl=impl, options=StackOptions())
        self.lock = threading.RLock()
        self.running = True
        self.calls: list[tuple[str, ...]] = []
        self.control: dict[str, str] | None = None
        self.databases = {
            n: SimpleNamespace(host="127.0.0.1", port=5400 + i, pid=1000 + i)
            for i, n in enumerate(SERVICES)
        }
        self.services = {
            n: [
                SimpleNamespace(
                    name=f"{n}-0", address=f"127.0.0.1:{6000 + i}", process=SimpleNamespace(pid=i)
                )
            ]
            for i, n in enumerate(SERVICES)
        }
        node = SimpleNamespace(url="nats://127.0.0.1:4222", pid=77)
        self.bus = SimpleNamespace(nodes=[node], clustered=False) if impl == "async" else None
        self.cpu_reads = 0
        self.faults = FaultController(self)  # type: ignore[arg-type]

    def as_owner(self, work: Any) -> Any:
        return work()

    def write_stack_file(self) -> None:
        self.calls.append(("write",))

    def attach_control(self, control: dict[str, str] | None) -> None:
        self.control = control

    def kill_database(self, service: str) -> int:
        self.calls.append(("kill_database", service))
        return 1234

    def freeze_database(self, service: str) -> list[int]:
        self.calls.append(("freeze_database", service))
        return [1234, 1235, 1236]

    def kill_service(self, service: str) -> list[tuple[str, int]]:
        self.calls.append(("kill_service", service))
        return [(f"{service}-0", 11), (f"{service}-1", 12)]

    def freeze_service(self, service: str) -> list[tuple[str, list[int]]]:
        self.calls.append(("freeze_service", service))
        return [(f"{service}-0", [11])]

    def kill_bus(self) -> list[int]:
        self.calls.append(("kill_bus",))
        return [77]

    def thaw(self, pids: list[int]) -> list[int]:
        self.calls.append(("thaw", *map(str, pids)))
        return pids

    def restart_database(self, service: str) -> None:
        self.calls.append(("restart_database", service))

    def restart_replicas(self, service: str) -> None:
        self.calls.append(("restart_replicas", service))

    def restart_bus(self) -> float:
        self.calls.append(("restart_bus",))
        return 0.0

    def disturb_links(self, pairs: frozenset[LinkPair], behaviour: Behaviour) -> str:
        self.calls.append(("disturb_links", *sorted(map(str, pairs)), repr(behaviour)))
        return "links disturbed"

    def heal_links(self, pairs: frozenset[LinkPair]) -> str:
        self.calls.append(("heal_links", *sorted(map(str, pairs))))
        return "links healed"

    def drop_packets(self, pairs: frozenset[LinkPair], percent: float) -> str:
        self.calls.append(("drop_packets", *sorted(map(str, pairs)), f"{percent:g}"))
        return "packets dropped"

    def stop_dropping(self, pairs: frozenset[LinkPair]) -> str:
        self.calls.append(("stop_dropping", *sorted(map(str, pairs))))
        return "no packet dropped"

    def cpu_seconds(self) -> dict[str, float]:
        """Every component has spent one more CPU second each time it is asked."""
        self.cpu_reads += 1
        return {"posts": float(self.cpu_reads), "db:posts": 2.0 * self.cpu_reads}


def actions(stack: FakeStack) -> list[tuple[str, ...]]:
    return [c for c in stack.calls if c != ("write",)]


def test_inject_records_the_fault_and_its_wall_clock_time() -> None:
    stack = FakeStack("async")
    before = time.time()
    record = stack.faults.inject("kill-db:comments")
    assert before <= record.injected_at <= time.time()
    assert record.detail == "postmaster pid 1234 SIGKILLed"
    assert record.active and record.pids == (1234,)
    assert actions(stack) == [("kill_database", "comments")]
    assert stack.calls[-1] == ("write",)  # stack.json follows what runs
    assert [str(r.fault) for r in stack.faults.active()] == ["kill-db:comments"]
    frozen = stack.faults.inject(Fault("freeze-db", "posts"))
    assert frozen.detail == "postmaster pid 1234 and 2 children SIGSTOPped"
    assert stack.faults.inject("kill:query").detail == "query-0 pid 11, query-1 pid 12 SIGKILLed"


def test_one_fault_per_part_and_not_applicable_faults_are_refused() -> None:
    stack = FakeStack("sync")
    stack.faults.inject("kill-db:comments")
    with pytest.raises(FaultConflict, match="already has an active fault .kill-db:comments."):
        stack.faults.inject("freeze-db:comments")
    stack.faults.inject("kill:comments")  # another part of the same service: fine
    with pytest.raises(FaultError, match="no bus"):
        stack.faults.inject("kill-bus")
    with pytest.raises(FaultError, match="owns no database"):
        stack.faults.inject(Fault("kill-db", "query"))
    assert len(stack.faults.active()) == 2


def test_restore_a_target_undoes_its_faults_database_first() -> None:
    stack = FakeStack("async")
    stack.faults.inject("kill:comments")
    stack.faults.inject("kill-db:comments")
    stack.faults.inject("freeze:posts")
    stack.calls.clear()
    result = stack.faults.restore("comments")
    assert [str(r.fault) for r in result.restored] == ["kill-db:comments", "kill:comments"]
    assert actions(stack) == [("restart_database", "comments"), ("restart_replicas", "comments")]
    assert result.restored_at is not None and result.restored_at <= time.time()
    assert all(not r.active for r in result.restored)
    assert "running again on 127.0.0.1:5401" in result.restored[0].restore_detail
    assert [str(r.fault) for r in stack.faults.active()] == ["freeze:posts"]
    # The whole history stays, with both times: what a chaos run reports as its fault window.
    history = stack.faults.history()
    assert len(history) == 3
    window = history[0].to_dict()
    assert window["fault"] == "kill:comments" and window["restored_at"] >= window["injected_at"]


def test_restoring_what_is_not_faulted_is_a_no_op_that_says_so() -> None:
    stack = FakeStack("async")
    result = stack.faults.restore("posts")
    assert result.restored == [] and result.restored_at is None
    assert result.message == "nothing to restore: no active fault on posts"
    assert stack.faults.restore("all").message == "nothing to restore: no active fault"
    sync = FakeStack("sync")
    assert "has no bus" in sync.faults.restore("bus").message
    assert actions(stack) == actions(sync) == []
    with pytest.raises(FaultError):
        stack.faults.restore("nats")


def test_restore_all_thaws_and_restarts_everything() -> None:
    stack = FakeStack("async")
    stack.faults.inject("freeze:moderation")
    stack.faults.inject("kill-bus")
    stack.faults.inject("freeze-db:query")
    stack.calls.clear()
    result = stack.faults.restore("all")
    assert [str(r.fault) for r in result.restored] == [
        "freeze-db:query",
        "kill-bus",
        "freeze:moderation",
    ]
    assert actions(stack) == [
        ("thaw", "1234", "1235", "1236"),
        ("restart_bus",),
        ("thaw", "11"),
    ]
    assert stack.faults.active() == []
    stack.faults.inject("freeze:moderation")  # the part can be faulted again


def test_lab_up_reports_a_part_again_once_it_was_back() -> None:
    reported: set[str] = set()
    gone = ["database comments (code -9)"]
    assert report_exits(reported, gone) == ["warning: database comments (code -9) is not running"]
    assert report_exits(reported, gone) == []  # once per outage
    assert report_exits(reported, []) == []  # restored
    assert report_exits(reported, gone) == ["warning: database comments (code -9) is not running"]


# --- freezing real processes -----------------------------------------------------------------
def statuses(pids: list[int], wanted: Callable[[set[str]], bool]) -> bool:
    """Whether the processes' set of states becomes `wanted` within a second (signals are
    delivered asynchronously)."""
    deadline = time.monotonic() + 1
    while not wanted(now := {psutil.Process(p).status() for p in pids}):
        if time.monotonic() > deadline:
            print(now)
            return False
        time.sleep(0.005)
    return True


def test_freeze_tree_stops_a_process_and_its_children_and_thaw_resumes_them() -> None:
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(psutil.Process(parent.pid).children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        frozen = freeze_tree(parent.pid)
        assert frozen[0] == parent.pid and len(frozen) == 3
        assert statuses(frozen, lambda s: s == {psutil.STATUS_STOPPED})
        assert sorted(thaw_pids([parent.pid])) == sorted(frozen)
        assert statuses(frozen, lambda s: psutil.STATUS_STOPPED not in s)
    finally:
        for child in psutil.Process(parent.pid).children():
            child.kill()
        parent.kill()
        parent.wait()
    assert thaw_pids([parent.pid]) == []  # gone: nobody is signalled
    assert freeze_tree(parent.pid) == []


# --- the control API -------------------------------------------------------------------------
@pytest.fixture
def served() -> Iterator[tuple[FakeStack, ControlServer]]:
    stack = FakeStack("async")
    lines: list[str] = []
    server = ControlServer(stack, announce=lines.append)  # type: ignore[arg-type]
    server.lines = lines  # type: ignore[attr-defined]
    server.start()
    try:
        yield stack, server
    finally:
        server.stop()


def request(url: str, token: str | None, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_server_publishes_itself_and_stops_with_a_withdrawal(
    served: tuple[FakeStack, ControlServer],
) -> None:
    stack, server = served
    assert stack.control == {"url": server.url, "token": server.token}
    assert server.url.startswith("http://127.0.0.1:")
    assert len(server.token) >= 32
    url = server.url
    server.stop()
    assert stack.control is None
    with pytest.raises(ControlError, match="cannot reach the control API"):
        ControlClient(url, server.token, timeout_s=2).list()


def test_requests_without_the_token_get_401(served: tuple[FakeStack, ControlServer]) -> None:
    stack, server = served
    for token in (None, "wrong", server.token + "x"):
        status, body = request(server.url + "/faults", token)
        assert status == 401
        assert "stack.json" in body["error"] and "Bearer" in body["error"]
        status, body = request(server.url + "/faults", token, b'{"fault": "kill-bus"}')
        assert status == 401
    assert actions(stack) == []  # nothing was injected
    with pytest.raises(ControlError, match=r"HTTP 401") as error:
        ControlClient(server.url, "wrong").inject("kill-bus")
    assert error.value.status == 401


def test_bad_input_is_400_with_one_line(served: tuple[FakeStack, ControlServer]) -> None:
    _, server = served
    url, token = server.url, server.token
    for path, body, message in [
        ("/faults", b"not json", "not JSON"),
        ("/faults", b"[]", "JSON object"),
        ("/faults", b"{}", '"fault"'),
        ("/faults", b'{"fault": "kill:users"}', "unknown service 'users'"),
        ("/restore", b'{"target": 3}', '"target"'),
        ("/restore", b'{"target": "nats"}', "unknown restore target"),
    ]:
        status, reply = request(url + path, token, body)
        assert status == 400, (path, body, reply)
        assert message in reply["error"] and "\n" not in reply["error"]
    assert request(url + "/nope", token)[0] == 404


def test_the_client_injects_lists_and_restores(served: tuple[FakeStack, ControlServer]) -> None:
    stack, server = served
    client = ControlClient(server.url, server.token)
    injected = client.inject("kill-db:comments")
    assert injected["fault"] == "kill-db:comments"
    assert injected["injected_at"] <= time.time()
    with pytest.raises(ControlError, match="already has an active fault") as error:
        client.inject(Fault("freeze-db", "comments"))
    assert error.value.status == 409
    listing = client.list()
    assert listing["impl"] == "async"
    assert [a["fault"] for a in listing["active"]] == ["kill-db:comments"]
    assert [c["fault"] for c in listing["catalogue"]] == [str(f) for f in catalogue("async")]
    restored = client.restore("comments")
    assert restored["restored"] == ["kill-db:comments"]
    assert restored["restored_at"] >= injected["injected_at"]
    assert client.restore("comments")["restored"] == []
    assert client.list()["active"] == []
    lines = server.lines  # type: ignore[attr-defined]
    assert lines[0].startswith("fault: injected kill-db:comments at ")
    assert lines[1].startswith("fault: restored kill-db:comments at ")


def test_a_stack_writes_the_control_block_into_its_stack_file(tmp_path: Path) -> None:
    stack = Stack(StackConfig(impl="sync", data_dir=tmp_path))
    server = ControlServer(stack)
    server.start()  # before the stack runs: nothing is written yet
    try:
        assert not stack.stack_file.exists()
        stack.running = True  # as at the end of start(), without starting processes
        stack.write_stack_file()
        info = load_stack_file(stack.stack_file)
        assert info["control"] == {"url": server.url, "token": server.token}
        assert stat.S_IMODE(stack.stack_file.stat().st_mode) == 0o600
        assert ControlClient.from_stack_file(stack.stack_file).url == server.url
    finally:
        server.stop()
        assert "control" not in load_stack_file(stack.stack_file)
        with pytest.raises(ControlError, match='has no "control" block'):
            ControlClient.from_stack_file(stack.stack_file)
        stack.stop()
    assert not stack.stack_file.exists()


# --- lab fault -------------------------------------------------------------------------------
def stack_dir(tmp_path: Path, server: ControlServer | None, token: str | None = None) -> Path:
    info: dict[str, Any] = {"impl": "async", "services": {}, "databases": {}, "processes": {}}
    if server is not None:
        info["control"] = {"url": server.url, "token": token or server.token}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "stack.json").write_text(json.dumps(info))
    return tmp_path


def test_lab_fault_prints_one_line_per_action(
    served: tuple[FakeStack, ControlServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, server = served
    where = str(stack_dir(tmp_path, server))
    assert main(["fault", "kill-db", "comments", "--stack", where]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("injected kill-db:comments at ")
    assert out[0].endswith("(postmaster pid 1234 SIGKILLed)")
    assert main(["fault", "kill-bus", "--stack", where, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fault"] == "kill-bus"
    assert main(["fault", "list", "--stack", where]) == 0
    listing = capsys.readouterr().out
    assert "2 active fault(s)" in listing and "kill-db:comments" in listing
    assert "\n  kill-db    posts comments moderation query\n" in listing
    assert "\n  kill-bus\n" in listing
    assert "\n  slow-db    posts comments moderation query [ms: default 100]\n" in listing
    assert "  partition-reset clients,posts " in listing
    assert main(["fault", "restore", "all", "--stack", where]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" at ")[0] for line in out] == [
        "restored kill-db:comments",
        "restored kill-bus",
    ]
    assert main(["fault", "restore", "bus", "--stack", where]) == 0
    assert capsys.readouterr().out.strip() == "nothing to restore: no active fault on bus"


def test_lab_fault_errors_are_one_line_and_exit_2(
    served: tuple[FakeStack, ControlServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, server = served
    cases = [
        (stack_dir(tmp_path / "a", None), ["kill", "posts"], 'has no "control" block'),
        (stack_dir(tmp_path / "b", server, "wrong"), ["list"], "HTTP 401"),
        (tmp_path / "c", ["list"], "does not exist: is `lab up` running"),
    ]
    for where, argv, message in cases:
        assert main(["fault", *argv, "--stack", str(where)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit_:  # argparse names the valid services
        main(["fault", "freeze-db", "users", "--stack", str(tmp_path / "b")])
    assert exit_.value.code == 2
    assert "choose from 'posts', 'comments', 'moderation', 'query'" in capsys.readouterr().err


def test_lab_fault_reports_an_inapplicable_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack("sync")
    with ControlServer(stack) as server:  # type: ignore[arg-type]
        where = str(stack_dir(tmp_path, server))
        assert main(["fault", "kill-bus", "--stack", where]) == 2
        err = capsys.readouterr().err
        assert "the sync implementation has no bus: nothing to kill" in err and "HTTP 400" in err
        assert main(["fault", "kill-db", "query", "--stack", where]) == 2
        assert "owns no database" in capsys.readouterr().err
