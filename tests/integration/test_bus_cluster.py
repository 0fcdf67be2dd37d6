"""The event store on a three-node JetStream cluster survives losing its leader: a real async
stack whose bus is three nats-servers on loopback (streams and consumers R3), its stream leader
SIGKILLed while posts are written; every event acknowledged before the kill is still in the
stream as the surviving nodes hold it, and every post acknowledged to a client, before the kill
or during the election, reaches the stream exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import nats
import pytest

from async_impl import bus
from blog.events import POST_CREATED, decode
from blog.v1 import api_pb2
from lab.stack.bus_view import EVENT_STREAM
from lab.stack.config import StackOptions
from lab.stack.runner import Stack, fresh_stack
from tests.helpers import Api, eventually


@pytest.fixture
def cluster_stack() -> Iterator[Stack]:
    with fresh_stack("async", StackOptions(bus_nodes=3)) as stack:  # its data removed after
        yield stack


def post_events(urls: list[str]) -> Counter[str]:
    """How many PostCreated events the stream holds per post id, read through `urls`."""

    async def read() -> Counter[str]:
        nc = await nats.connect(urls, connect_timeout=2, max_reconnect_attempts=2)
        try:
            js = nc.jetstream()
            info = await js.stream_info(bus.EVENTS)
            found: Counter[str] = Counter()
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(bus.EVENTS, seq)
                if msg.subject == POST_CREATED:
                    found[decode(msg.data or b"").aggregate_id] += 1
            return found
        finally:
            await nc.close()

    return asyncio.run(read())


def create_posts(api: Api, label: str, n: int) -> list[str]:
    return [
        api.posts.CreatePost(
            api_pb2.CreatePostRequest(title=f"{label} {i}", request_id=str(uuid.uuid4())),
            timeout=10,
        ).id
        for i in range(n)
    ]


def test_every_acknowledged_event_survives_the_loss_of_the_stream_leader(
    cluster_stack: Stack,
) -> None:
    stack = cluster_stack
    assert stack.bus is not None and len(stack.bus.nodes) == 3
    bus_entry = stack.describe()["bus"]
    assert bus_entry["stream_replicas"] == 3 and len(bus_entry["nodes"]) == 3
    assert bus_entry["url"] == bus_entry["nodes"][0]["url"]  # readers of one URL keep working
    # Ready means replicated: every stream and consumer R3, led, its replicas current.
    assert stack.bus.view().problems(3, required=[EVENT_STREAM]) == []

    api = Api.from_stack_file(stack.stack_file)
    try:
        before = create_posts(api, "before", 20)

        def all_published() -> Counter[str]:
            found = post_events(stack.bus.urls)  # type: ignore[union-attr]
            assert set(before) <= set(found)
            return found

        eventually(all_published, timeout_s=30)  # acknowledged by the stream: out of the outbox

        record = stack.faults.inject("kill-bus-node:leader")
        failover = record.bus
        assert failover is not None and failover.role == "leader"
        killed = failover.node
        during = create_posts(api, "during", 20)  # the outbox holds them while none leads
        deadline = time.time() + 60
        while failover.watching and time.time() < deadline:
            time.sleep(0.1)
        assert failover.stream_leader_s is not None, "the survivors elected no leader"
        assert failover.leader_after not in (None, killed)
        print(f"\n[bus cluster] {failover.summary()}")

        survivors = [n.url for n in stack.bus.nodes if n.name != killed]

        def everything_in_the_stream() -> Counter[str]:
            found = post_events(survivors)
            assert set(before) | set(during) <= set(found)
            return found

        found = eventually(everything_in_the_stream, timeout_s=30)
        duplicated = {post: n for post, n in found.items() if n > 1}
        assert not duplicated, f"posts in the stream more than once: {duplicated}"

        result = stack.faults.restore("bus")
        assert [str(r.fault) for r in result.restored] == ["kill-bus-node:leader"]
        assert stack.bus.node(killed).pid is not None  # back on its store and ports
        cluster = stack.bus

        def replicated_again() -> None:  # the restarted node caught up: R3, every replica current
            assert cluster.view().problems(3) == []

        eventually(replicated_again, timeout_s=30)
    finally:
        api.close()
