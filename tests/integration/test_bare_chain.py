"""The bare chain beside a real stack: its servers get their database's credentials from the
environment, never argv (`ps` shows no password), and beside an async stack it does the async
system's work off the request path: every write's event published to its own stream, and each
consuming role's commit per event, as many as benchmarks.floor.shapes declares; on a bus of
three nodes, on a stream with the stack's replicas (R3)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import nats
import pytest
from nats.js.errors import NotFoundError

from benchmarks.floor import bare_background
from benchmarks.floor.bare_chain import METHOD, BareChain
from benchmarks.floor.shapes import Background, background_work
from lab.stack.config import StackOptions
from lab.stack.runner import Stack, fresh_stack
from lab.stack.stackfile import bus_urls

WRITES = {"CreatePost": 4, "CreateComment": 5}


@pytest.fixture
def bare(stack: Stack, tmp_path: Path) -> Iterator[BareChain]:
    chain = BareChain(stack.describe(), tmp_path)
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()


def send(chain: BareChain, operation: str, times: int) -> None:
    routes = chain.routes(chain.stack["impl"])
    role, plan = routes["plans"][operation]
    with grpc.insecure_channel(routes["addresses"][role]) as channel:
        call = channel.unary_unary(METHOD)
        for _ in range(times):
            assert call(json.dumps(plan).encode(), timeout=5) == b"ok"


def test_no_password_on_any_command_line(stack: Stack, bare: BareChain) -> None:
    passwords = set()
    for server in stack.databases.values():
        passwords |= {server.database.password, urlsplit(server.superuser_dsn).password}
    args = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert "benchmarks.floor.bare_chain" in args.stdout  # the bare chain's servers are running
    assert not [p for p in passwords if p and p in args.stdout]


def test_the_bare_chain_does_the_async_work_off_the_request_path(
    stack: Stack, bare: BareChain
) -> None:
    for operation, times in WRITES.items():
        send(bare, operation, times)
    send(bare, "GetPostView", 3)
    if stack.config.impl != "async":
        assert not bare.background  # sync's work (either variant) is all on the request path
        return
    assert bare.background
    bare.wait_quiet(timeout_s=30)
    work = Background()
    for operation, times in WRITES.items():
        for _ in range(times):
            work += background_work()["async"][operation]
    published, acked = asyncio.run(stream_counts(bare))
    assert published == work.publishes  # a publish per event, the caused ones included
    assert acked == work.consumer_commits  # each acked after its consumer's commit


def test_stopping_the_bare_chain_removes_its_stream(stack: Stack, tmp_path: Path) -> None:
    chain = BareChain(stack.describe(), tmp_path)
    chain.start()
    chain.stop()
    if chain.background:
        assert not asyncio.run(stream_exists(chain))


def test_beside_a_bus_cluster_the_bare_stream_has_the_stack_s_replicas(tmp_path: Path) -> None:
    with fresh_stack("async", StackOptions(bus_nodes=3)) as stack:
        chain = BareChain(stack.describe(), tmp_path)
        chain.start()
        try:
            send(chain, "CreatePost", 2)
            chain.wait_quiet(timeout_s=30)
            published, acked = asyncio.run(stream_counts(chain))
            assert asyncio.run(stream_replicas(chain)) == 3
        finally:
            chain.stop()
    work = background_work()["async"]["CreatePost"] + background_work()["async"]["CreatePost"]
    assert (published, acked) == (work.publishes, work.consumer_commits)


async def stream_replicas(chain: BareChain) -> int | None:
    nc = await nats.connect(bus_urls(chain.stack))
    try:
        return (await nc.jetstream().stream_info(bare_background.STREAM)).config.num_replicas
    finally:
        await nc.close()


async def stream_counts(chain: BareChain) -> tuple[int, int]:
    """Events in the bare chain's stream, and messages its consumers acknowledged."""
    nc = await nats.connect(bus_urls(chain.stack))
    try:
        js = nc.jetstream()
        published = (await js.stream_info(bare_background.STREAM)).state.messages
        consumers = await js.consumers_info(bare_background.STREAM)
        acked = sum(c.ack_floor.consumer_seq for c in consumers if c.ack_floor)
        return published, acked
    finally:
        await nc.close()


async def stream_exists(chain: BareChain) -> bool:
    nc = await nats.connect(bus_urls(chain.stack))
    try:
        await nc.jetstream().stream_info(bare_background.STREAM)
        return True
    except NotFoundError:
        return False
    finally:
        await nc.close()
