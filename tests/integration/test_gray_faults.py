"""Gray faults on real stacks: a slow database through the control API slows its own service's
round trips and nothing is lost; and a `lab up --fault-proxies` killed with SIGKILL while its
links are cut and dropping packets leaves no process, no nftables rule and no namespace."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil

from blog.v1 import api_pb2
from lab.stack.control import ControlClient, ControlServer
from lab.stack.packetloss import lab_tables, nft_available
from tests.helpers import Api, start_stack
from tests.integration.test_lab_up import all_gone, stack_pids, start_lab_up

DOSE_MS = 200.0
JITTER_MS = DOSE_MS * 0.1


def timed_ms(call: object, request: object) -> float:
    started = time.perf_counter()
    call(request, timeout=10)  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def test_slow_db_slows_every_round_trip_of_its_service_only(tmp_path: Path) -> None:
    stack = start_stack("sync", tmp_path, fault_proxies=True)
    api = Api.from_stack_file(stack.stack_file)
    try:
        info = json.loads(stack.stack_file.read_text())
        links = info["fault_proxy"]["links"]
        # The posts service reaches its database through its link; clients reach each service
        # through theirs; stack.json's own DSN stays the server's (the audit reads it directly).
        assert links["posts>db:posts"]["upstream"] in info["databases"]["posts"]["dsn"]
        assert info["services"]["posts"] == [links["clients>posts#0"]["listen"]]
        post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="slow", body="db"), timeout=5)
        get = api_pb2.GetPostRequest(id=post.id)
        listing = api_pb2.ListCommentsRequest(post_id=post.id)
        with ControlServer(stack) as control:
            client = ControlClient(control.url, control.token)
            record = client.inject(f"slow-db:posts:{DOSE_MS:g}")
            assert record["fault"] == "slow-db:posts:200" and record["dose"] == DOSE_MS
            slowed = [timed_ms(api.posts.GetPost, get) for _ in range(3)]
            # The comments service and its database are not on the slowed link.
            other = min(timed_ms(api.comments.ListComments, listing) for _ in range(3))
            written = api.posts.CreatePost(api_pb2.CreatePostRequest(title="during"), timeout=10)
            restored = client.restore("posts")
            assert restored["restored"] == ["slow-db:posts:200"]
            assert restored["records"][0]["cpu_s"]["posts"] >= 0
            healed = min(timed_ms(api.posts.GetPost, get) for _ in range(5))
        # Every round trip to the database pays the dose (minus at most the jitter) ...
        assert all(ms >= DOSE_MS - JITTER_MS for ms in slowed), slowed
        # ... and only then: another service's reads, and posts' own once healed, do not.
        assert other < DOSE_MS - JITTER_MS, other
        assert healed < DOSE_MS - JITTER_MS, healed
        # A write acknowledged during the fault is there.
        assert api.posts.GetPost(api_pb2.GetPostRequest(id=written.id), timeout=5).title == "during"
    finally:
        api.close()
        stack.stop()
    assert not (tmp_path / "run" / "fault-proxy.sock").exists()


def test_a_killed_runner_leaves_no_proxy_rule_or_namespace(tmp_path: Path) -> None:
    proc, _ = start_lab_up(tmp_path, "--fault-proxies", impl="async")
    stack_file = tmp_path / "stack.json"
    try:
        stack = json.loads(stack_file.read_text())
        proxy_pid = stack["fault_proxy"]["pid"]
        assert "lab.stack.linkproxy" in " ".join(psutil.Process(proxy_pid).cmdline())
        client = ControlClient.from_stack_file(stack_file)
        client.inject("partition:comments,bus")
        client.inject("slow-db:posts:50")
        if nft_available():
            client.inject("packet-loss:query,db:query:20")
            assert any(t.startswith("lab_chaos_") for t in lab_tables())
        pids = [*stack_pids(stack), proxy_pid]
        pids += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except BaseException:
        proc.kill()
        raise
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert all_gone(pids) == []
    deadline = time.monotonic() + 5
    while lab_tables() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab_tables() == []
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "lab" not in namespaces and "chaos" not in namespaces
