"""`lab up --prometheus` end to end: a real Prometheus server (Debian's package) scrapes every
process of the stack, and its HTTP API answers queries for the lab's metrics and recording
rules; everything stops with the stack."""

from __future__ import annotations

import json
import signal
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from blog.v1 import api_pb2
from lab.stack.prometheus import PrometheusMissing, find_prometheus
from tests.helpers import Api, comment_on, eventually
from tests.integration.test_lab_up import all_gone, stack_pids, start_lab_up


def query(url: str, promql: str) -> list[dict]:  # type: ignore[type-arg]
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(address, timeout=5) as reply:
        answer = json.loads(reply.read())
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


@pytest.mark.timeout(240)
def test_lab_up_prometheus_scrapes_every_process(tmp_path: Path) -> None:
    try:
        find_prometheus()
    except PrometheusMissing as missing:
        pytest.skip(f"{missing} (.ci/run installs it)")
    proc, lines = start_lab_up(tmp_path, "--prometheus", impl="async")
    try:
        stack = json.loads((tmp_path / "stack.json").read_text())
        url = stack["prometheus"]["url"]
        assert url.startswith("http://127.0.0.1:")
        rest = proc.stdout.readline() + proc.stdout.readline() if proc.stdout else ""
        assert f"prometheus at {url}" in rest, rest
        assert Path(stack["prometheus"]["home"]) == tmp_path / "prometheus"  # not in results/

        api = Api.from_stack_file(tmp_path / "stack.json")
        post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="watched"), timeout=5)
        comment_on(api, post.id, "seen by prometheus")
        api.close()

        jobs = {"posts", "comments", "moderation", "query", "nats"}

        def every_target_up() -> None:
            up = {r["metric"]["job"]: r["value"][1] for r in query(url, "up")}
            assert up == dict.fromkeys(jobs, "1"), up

        eventually(every_target_up, timeout_s=60)  # discovery waits ~5 s before the first scrape

        def applied_and_recorded() -> None:
            applied = query(url, 'blog_events_applied_total{service="query", impl="async"}')
            assert applied and float(applied[0]["value"][1]) >= 3, applied  # post, comment x2
            backlog = query(url, "consumer:jetstream_consumer_backlog:sum")
            assert {r["metric"]["consumer_name"] for r in backlog} == {
                "comments",
                "moderation",
                "query",
            }, backlog

        eventually(applied_and_recorded, timeout_s=30)
        pids = stack_pids(stack)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert all_gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
