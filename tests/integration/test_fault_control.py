"""`lab fault` against a running `lab up` (a real subprocess): each fault and its restore brings
the part back on the same address, the API obeys only the token in stack.json, and stopping
`lab up` still leaves no process behind."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import psutil
import pytest

from blog.v1 import api_pb2
from lab.cli.main import main
from lab.stack.control import ControlClient, ControlError, ControlServer
from lab.stack.runner import Stack
from tests.helpers import Api, comment_on, eventually, start_stack
from tests.integration.test_lab_up import (
    all_gone,
    children_of_postmasters,
    stack_pids,
    start_lab_up,
)

DEADLINE_S = 2.0


def code_of(
    call: Callable[..., object], request: object, timeout: float = DEADLINE_S
) -> tuple[str, float]:
    """(status name, seconds taken) of one call with a deadline."""
    started = time.monotonic()
    try:
        call(request, timeout=timeout)
        return "OK", time.monotonic() - started
    except grpc.RpcError as error:
        return error.code().name, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.timeout(420)  # lab up ready within 90 s, each fault's recovery 20 s, the stop 60 s
def test_faults_and_restores_through_lab_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, _ = start_lab_up(tmp_path, impl="async")
    output: list[str] = []  # what `lab up` prints from now on
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    stack_file = tmp_path / "stack.json"
    seen_pids: set[int] = set()

    def warned(part: str, times: int) -> None:
        assert sum(f"warning: {part} " in line for line in output) == times, output

    def stack() -> dict:
        info = json.loads(stack_file.read_text())
        seen_pids.update(stack_pids(info))
        return info

    def lab_fault(*argv: str) -> str:
        code = main(["fault", *argv, "--stack", str(tmp_path)])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out.strip()

    try:
        first = stack()
        control = first["control"]
        assert urlsplit(control["url"]).hostname == "127.0.0.1"
        assert stat.S_IMODE(stack_file.stat().st_mode) == 0o600

        # Only who can read stack.json may change the stack.
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            request = urllib.request.Request(
                control["url"] + "/faults", data=b'{"fault": "kill-bus"}', headers=headers
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == 401
            assert "stack.json" in json.loads(refused.value.read())["error"]

        # The real command, once: the catalogue of an async stack.
        listed = subprocess.run(
            [sys.executable, "-m", "lab.cli", "fault", "list", "--stack", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        assert "async stack: 0 active fault(s)" in listed.stdout
        assert "\n  kill-db    posts comments moderation query\n" in listed.stdout
        assert "\n  kill-bus\n" in listed.stdout
        assert "gray faults need fault proxies: this stack runs without" in listed.stdout

        api = Api.from_stack_file(stack_file)
        post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="faults"), timeout=5)
        comment_on(api, post.id, "the comments service knows the post")

        # (a) kill-db:comments: CreateComment fails, and works again after the restore, the
        # database on the same port.
        dsn_before = first["databases"]["comments"]["dsn"]
        line = lab_fault("kill-db", "comments")
        assert line.startswith("injected kill-db:comments at ") and "SIGKILLed" in line
        create = api_pb2.CreateCommentRequest(post_id=post.id, content="after kill-db")
        assert code_of(api.comments.CreateComment, create)[0] == "UNAVAILABLE"
        assert lab_fault("restore", "comments").startswith("restored kill-db:comments at ")
        after = stack()["databases"]["comments"]
        assert after["dsn"] == dsn_before and after["pid"] != first["databases"]["comments"]["pid"]
        eventually(lambda: _ok(code_of(api.comments.CreateComment, create)), timeout_s=20)

        # (b) kill:posts: same address after the restore, and it serves; `lab up` warns of
        # the outage, and of the next one again.
        address = first["services"]["posts"]
        new_post = api_pb2.CreatePostRequest(title="after kill")
        for outage in (1, 2):
            assert lab_fault("kill", "posts").startswith("injected kill:posts at ")
            assert code_of(api.posts.CreatePost, new_post)[0] == "UNAVAILABLE"
            eventually(lambda n=outage: warned("service posts-0", n), timeout_s=5)
            assert lab_fault("restore", "posts").startswith("restored kill:posts at ")
            assert stack()["services"]["posts"] == address
            eventually(lambda: _ok(code_of(api.posts.CreatePost, new_post)), timeout_s=20)

        # (c) kill-bus: same URL, and a post created after the restore reaches the query view.
        url = first["bus"]["url"]
        assert lab_fault("kill-bus").startswith("injected kill-bus at ")
        assert lab_fault("restore", "bus").startswith("restored kill-bus at ")
        assert stack()["bus"]["url"] == url
        fresh = api.posts.CreatePost(api_pb2.CreatePostRequest(title="after the bus"), timeout=5)
        view = api_pb2.GetPostViewRequest(post_id=fresh.id)
        eventually(lambda: _ok(code_of(api.query.GetPostView, view)), timeout_s=20)

        # (d) freeze-db:comments: ListComments fails within the client's deadline; restored, it
        # works again.
        listing = api_pb2.ListCommentsRequest(post_id=post.id)
        assert lab_fault("freeze-db", "comments").startswith("injected freeze-db:comments at ")
        code, took = code_of(api.comments.ListComments, listing)
        assert code in ("DEADLINE_EXCEEDED", "UNAVAILABLE"), code
        assert took < DEADLINE_S + 1
        assert lab_fault("restore", "all").startswith("restored freeze-db:comments at ")
        eventually(lambda: _ok(code_of(api.comments.ListComments, listing)), timeout_s=20)
        assert lab_fault("restore", "all") == "nothing to restore: no active fault"
        api.close()

        history = json.loads(lab_fault("list", "--json"))["history"]
        assert [h["fault"] for h in history] == [
            "kill-db:comments",
            "kill:posts",
            "kill:posts",
            "kill-bus",
            "freeze-db:comments",
        ]
        assert all(h["injected_at"] <= h["restored_at"] for h in history)

        # Stop: nothing outlives `lab up`, restarted processes included.
        final = stack()
        # Started again from a request's thread, they outlived it (parent-death signal).
        assert final["databases"]["comments"]["pid"] == after["pid"]
        assert all(psutil.pid_exists(p) for p in stack_pids(final))
        pids = sorted(seen_pids)
        pids += children_of_postmasters([d["pid"] for d in final["databases"].values()])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        reader.join(timeout=10)
        rest = "".join(output)
        assert "fault: injected kill-db:comments at " in rest
        assert "fault: restored freeze-db:comments at " in rest
        assert rest.rstrip().endswith("stopped"), rest
        assert not stack_file.exists()
        assert all_gone(pids) == []  # frozen ones too: they were thawed to be stopped
    finally:
        if proc.poll() is None:
            proc.kill()


def _ok(outcome: tuple[str, float]) -> None:
    assert outcome[0] == "OK", outcome


def test_a_stack_started_by_other_code_serves_the_same_api(tmp_path: Path) -> None:
    """The chaos runner's way: its own Stack and ControlServer; calls from other threads."""
    stack: Stack = start_stack("sync", tmp_path)
    server = ControlServer(stack).start()
    try:
        client = ControlClient.from_stack_file(stack.stack_file)
        with pytest.raises(ControlError, match="sync implementation has no bus") as error:
            client.inject("kill-bus")
        assert error.value.status == 400
        with pytest.raises(ControlError, match="sync query service owns no database"):
            client.inject("kill-db:query")

        api = Api.from_stack_file(stack.stack_file)
        post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="sync faults"), timeout=5)
        create = api_pb2.CreateCommentRequest(post_id=post.id, content="fine")
        assert client.inject("freeze:moderation")["fault"] == "freeze:moderation"
        # sync: CreateComment calls moderation, and answers within its deadline anyway.
        code, took = code_of(api.comments.CreateComment, create, timeout=5)
        assert code in ("DEADLINE_EXCEEDED", "UNAVAILABLE") and took < 5, (code, took)
        assert code_of(api.posts.GetPost, api_pb2.GetPostRequest(id=post.id))[0] == "OK"
        assert client.restore("moderation")["restored"] == ["freeze:moderation"]
        eventually(lambda: _ok(code_of(api.comments.CreateComment, create)), timeout_s=20)

        # In-process, from a thread that ends at once: what it restarted keeps running.
        worker = threading.Thread(target=lambda: stack.faults.inject("kill-db:posts"))
        worker.start()
        worker.join()
        restorer = threading.Thread(target=lambda: stack.faults.restore("all"))
        restorer.start()
        restorer.join()
        postmaster = stack.databases["posts"].pid
        assert postmaster is not None
        time.sleep(0.5)
        assert stack.databases["posts"].process is not None
        assert stack.databases["posts"].process.alive()
        eventually(lambda: _ok(code_of(api.posts.GetPost, api_pb2.GetPostRequest(id=post.id))))

        # The runner's own methods still work from the thread that started the stack.
        stack.databases["comments"].kill()
        stack.restart_database("comments")
        stack.stop_service("posts")
        stack.restart_service("posts")
        eventually(lambda: _ok(code_of(api.comments.CreateComment, create)), timeout_s=20)
        assert [r["fault"] for r in client.list()["history"]] == [
            "freeze:moderation",
            "kill-db:posts",
        ]
        api.close()
    finally:
        server.stop()
        stack.stop()
