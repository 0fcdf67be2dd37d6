"""Every process in stack.json serves its Metrics as Prometheus text on the address stack.json
gives: parsed by prometheus_client's own parser, holding the families each service records
(and, where Debian's promtool is installed, passing its lint of the naming conventions)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from blog.v1 import api_pb2
from lab.stack.runner import Stack
from lab.stack.stackfile import load_stack_file
from tests.helpers import Api, comment_on, eventually

# Every process: each RPC it answered (health checks at least), and the process itself.
EVERY = {"grpc_server_handled", "grpc_server_handling_seconds", "process_cpu_seconds"}
EXPECTED = {
    "sync": dict.fromkeys(["posts", "comments", "moderation", "query"], EVERY),
    "sync-resilient": dict.fromkeys(["posts", "comments", "moderation", "query"], EVERY),
    "async": {
        "posts": EVERY | {"blog_outbox_rows", "blog_outbox_oldest_age_seconds"},
        "comments": EVERY
        | {"blog_events_applied", "blog_delivery_delay_seconds", "blog_outbox_rows"},
        "moderation": EVERY
        | {"blog_events_applied", "blog_delivery_delay_seconds", "blog_outbox_rows"},
        "query": EVERY
        | {"blog_events_applied", "blog_delivery_delay_seconds", "blog_visibility_lag_seconds"},
    },
}
BUS = {
    "lab_nats_monitor_up",
    "jetstream_stream_total_messages",
    "jetstream_consumer_num_pending",
    "jetstream_consumer_num_ack_pending",
}


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(reply.read().decode())


def family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def lint(text: str) -> None:
    """promtool's check of the naming conventions (`_total`, base units), when installed."""
    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_process_serves_prometheus_text_with_its_families(stack: Stack, api: Api) -> None:
    impl = stack.config.impl
    post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="metrics"), timeout=5)
    comment_on(api, post.id, "watched")

    def view_complete() -> None:  # async: every consumer has applied what it follows
        view = api.query.GetPostView(api_pb2.GetPostViewRequest(post_id=post.id), timeout=5)
        assert [c.status for c in view.comments] == [api_pb2.APPROVED]

    eventually(view_complete, timeout_s=20)
    described = load_stack_file(stack.stack_file)
    for name, process in described["processes"].items():
        service = name.rsplit("-", 1)[0]
        assert process["metrics"].startswith("127.0.0.1:"), process
        text = scrape(process["metrics"])
        missing = EXPECTED[impl][service] - family_names(text)
        assert not missing, f"{name}: {sorted(missing)} missing"
        assert f'service="{service}"' in text
        lint(text)
    if impl == "async":
        text = scrape(described["bus"]["metrics"])
        assert BUS <= family_names(text)
        assert 'lab_nats_monitor_up{monitor="' in text and "} 1.0" in text
        for consumer in ("comments", "moderation", "query"):
            assert f'consumer_name="{consumer}"' in text
        lint(text)
    else:
        assert "bus" not in described
