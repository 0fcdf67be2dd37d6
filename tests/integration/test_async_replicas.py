"""Replicas of the async consumers share one durable consumer without multiplying the lag.

The defect this guards against (issue: async replicas blow up the lag's tail): with nats.py's
fetch(batch, timeout), messages that trickled in were held in the client until the batch filled
or the timeout ran out, so two replicas of query and moderation showed a visibility-lag p99 of
~700 ms where one replica showed ~60 ms. The same load is run against one replica and two, in
the same test; the bound is generous (twice one replica's p99, plus an allowance for this noisy
machine): only a defect of that size breaks it.
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

from hdrh.histogram import HdrHistogram

from blog.v1 import api_pb2
from lab.rpc.metrics import decode_histogram, fetch, new_histogram
from stack.runner import Stack
from tests.helpers import Api, comment_on, eventually, start_stack

RATE = 60.0  # operations per second, half posts and half comments
DURATION_S = 6.0
NOISE_ALLOWANCE_MS = 100.0  # this machine is noisy; the defect added 600-900 ms


def lag_p99_ms(stack: Stack) -> tuple[float, float, int]:
    """Visibility and comment-status lag p99 over every query replica, and the event count."""
    merged = {"visibility_lag_us": new_histogram(), "comment_status_lag_us": new_histogram()}
    for address in stack.describe()["services"]["query"]:
        snapshot = fetch(address, timeout_s=5)
        for name, total in merged.items():
            if name in snapshot.histograms:
                total.add(decode_histogram(snapshot.histograms[name]))
    vis, status = merged["visibility_lag_us"], merged["comment_status_lag_us"]
    return _p99_ms(vis), _p99_ms(status), vis.get_total_count()


def _p99_ms(hist: HdrHistogram) -> float:
    return float(hist.get_value_at_percentile(99)) / 1000


def drive(stack: Stack) -> tuple[float, float, int]:
    """A paced write load (open loop, RATE/s for DURATION_S); returns the lag p99s."""
    api = Api.from_stack_file(stack.stack_file)
    try:
        posts = [
            api.posts.CreatePost(api_pb2.CreatePostRequest(title=f"seed {i}"), timeout=5).id
            for i in range(10)
        ]
        for post_id in posts:
            comment_on(api, post_id, "warm-up")  # every seed post is known to comments
        for address in stack.describe()["services"]["query"]:
            fetch(address, reset=True, timeout_s=5)  # measure the load alone
        rng = random.Random(7)
        start = time.monotonic()
        for i in range(int(RATE * DURATION_S)):
            time.sleep(max(0.0, start + i / RATE - time.monotonic()))
            if i % 2:
                request = api_pb2.CreateCommentRequest(
                    post_id=rng.choice(posts), content=f"c {i}", request_id=str(uuid.uuid4())
                )
                api.comments.CreateComment(request, timeout=5)
            else:
                api.posts.CreatePost(api_pb2.CreatePostRequest(title=f"p {i}"), timeout=5)

        def all_applied() -> tuple[float, float, int]:
            vis, status, count = lag_p99_ms(stack)
            assert count >= RATE * DURATION_S * 1.4, f"only {count} events applied so far"
            return vis, status, count

        return eventually(all_applied, timeout_s=30)
    finally:
        api.close()


def test_two_replicas_keep_the_lag_of_one(tmp_path: Path) -> None:
    measured = {}
    for label, replicas in (("one", {}), ("two", {"moderation": 2, "query": 2})):
        stack = start_stack("async", tmp_path / label, replicas=replicas)
        try:
            measured[label] = drive(stack)
        finally:
            stack.stop()
    (one_vis, one_status, _), (two_vis, two_status, _) = measured["one"], measured["two"]
    print(
        f"\n[replicas] lag p99 ms, visibility/status: one {one_vis:.1f}/{one_status:.1f}, "
        f"two {two_vis:.1f}/{two_status:.1f}"
    )
    assert two_vis <= 2 * one_vis + NOISE_ALLOWANCE_MS, measured
    assert two_status <= 2 * one_status + NOISE_ALLOWANCE_MS, measured
