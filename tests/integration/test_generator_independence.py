"""The load generator keeps operations independent (docs/METHOD.md, Load): against a synthetic
blog whose CreateComment takes a whole second and whose every other operation answers at once,
the other operations' latency (from the scheduled start) stays at its own level. The generator
it replaced, one request in flight per Locust user, charged each user's next requests with the
slow comment's second (issue 19: async reads during a bus outage seemed to take 4 s)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from benchmarks.load.hdr import merge
from blog.v1 import api_pb2, api_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
SLOW_S = 1.0
POST = str(uuid.uuid4())


class SyntheticBlog(
    api_pb2_grpc.PostServiceServicer,
    api_pb2_grpc.CommentServiceServicer,
    api_pb2_grpc.QueryServiceServicer,
):
    """Every operation answers at once, except CreateComment, which takes SLOW_S."""

    def CreatePost(self, request: api_pb2.CreatePostRequest, context: object) -> api_pb2.Post:
        return api_pb2.Post(id=str(uuid.uuid4()), title=request.title)

    def CreateComment(
        self, request: api_pb2.CreateCommentRequest, context: object
    ) -> api_pb2.Comment:
        time.sleep(SLOW_S)
        return api_pb2.Comment(id=str(uuid.uuid4()), post_id=request.post_id)

    def GetPostView(self, request: api_pb2.GetPostViewRequest, context: object) -> api_pb2.PostView:
        return api_pb2.PostView(post=api_pb2.Post(id=request.post_id))

    def ListPostViews(
        self, request: api_pb2.ListPostViewsRequest, context: object
    ) -> api_pb2.ListPostViewsResponse:
        return api_pb2.ListPostViewsResponse(views=[api_pb2.PostView(post=api_pb2.Post(id=POST))])


@pytest.fixture()
def synthetic_stack(tmp_path: Path) -> Iterator[Path]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=200))
    blog = SyntheticBlog()
    api_pb2_grpc.add_PostServiceServicer_to_server(blog, server)
    api_pb2_grpc.add_CommentServiceServicer_to_server(blog, server)
    api_pb2_grpc.add_QueryServiceServicer_to_server(blog, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    address = f"127.0.0.1:{port}"
    stack = tmp_path / "stack.json"
    services = {name: [address] for name in ("posts", "comments", "query", "moderation")}
    stack.write_text(json.dumps({"impl": "synthetic", "services": services}))
    try:
        yield stack
    finally:
        server.stop(grace=None)


def p99_ms(encoded: list[str]) -> float:
    return merge(encoded).get_value_at_percentile(99) / 1000


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_one_slow_operation_leaves_the_others_latency_alone(
    synthetic_stack: Path, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([POST]))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "locustfile.py")]
    command += ["--headless", "--only-summary", "-u", "1", "-r", "1", "-t", "60s"]
    command += ["--lab-stack", str(synthetic_stack), "--lab-scenario", "mixed"]
    command += ["--lab-rate", "60", "--lab-seed-file", str(seed), "--lab-warmup-s", "1"]
    command += ["--lab-duration-s", "6", "--lab-out", str(out)]
    subprocess.run(command, cwd=ROOT, check=False, timeout=90, capture_output=True)
    (generator,) = [json.loads(p.read_text()) for p in out.glob("generator-*.json")]
    ops = generator["ops"]
    slow = p99_ms([ops["CreateComment"]["corrected"]])
    assert slow >= SLOW_S * 1000  # the slow operation is slow ...
    for op in ("CreatePost", "GetPostView", "ListPostViews"):
        assert ops[op]["ok"] > 30 and not ops[op]["errors"], op
        # ... and the others stay far from it: a quarter of its latency is a wide margin (they
        # answer in milliseconds), while one request in flight per user put them at ~1 s.
        assert p99_ms([ops[op]["corrected"]]) < SLOW_S * 1000 / 4, op
    assert generator["counters"].get("generator_overflow", 0) == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_distributed_run_ends_when_its_workers_are_done(
    synthetic_stack: Path, tmp_path: Path
) -> None:
    """Master and two workers (the suite's mode from GENERATOR_SPLIT_RATE up): each worker tells
    the master its schedule is over and the master ends the run then, not at Locust's time
    limit (a handler with the wrong signature left every such step idle until the limit)."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([POST]))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "locustfile.py")]
    command += ["--headless", "--only-summary", "-u", "2", "-r", "2", "-t", "60s"]
    command += ["--processes", "2", "--lab-stack", str(synthetic_stack)]
    command += ["--lab-scenario", "read_heavy", "--lab-rate", "40", "--lab-seed-file", str(seed)]
    command += ["--lab-warmup-s", "1", "--lab-duration-s", "2", "--lab-out", str(out)]
    run = subprocess.run(command, cwd=ROOT, check=False, timeout=90, capture_output=True, text=True)
    log = run.stdout + run.stderr
    assert "Uncaught exception" not in log, log[-3000:]
    assert "--run-time limit reached" not in log, log[-3000:]
    generators = [json.loads(p.read_text()) for p in out.glob("generator-*.json")]
    assert len(generators) == 2  # each worker measured its share and wrote it
    assert sum(op["ok"] for g in generators for op in g["ops"].values()) > 0
