"""The services' bus connection (async_impl.bus.connect) against a real nats-server: closing it
ourselves is not reported as a lost bus, losing the server is."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from async_impl import bus
from lab.stack.bus_cluster import distinct_ports
from lab.stack.nats_server import NatsServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    port, monitor = distinct_ports(2)
    nats_server = NatsServer(tmp_path / "store", port, monitor, tmp_path)
    nats_server.start()
    try:
        yield nats_server
    finally:
        nats_server.stop()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_our_own_close_is_not_a_lost_bus(
    server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def connect_and_close() -> None:
        nc = await bus.connect(server.url, name="test")
        await nc.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(connect_and_close())
    assert "bus disconnected" not in warnings(caplog)


def test_a_server_that_goes_away_is_reported(
    server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def connect_then_lose_the_server() -> None:
        nc = await bus.connect(server.url, name="test")
        server.kill()  # SIGKILL: the connection breaks under the client
        for _ in range(100):
            if "bus disconnected" in warnings(caplog):
                break
            await asyncio.sleep(0.05)
        await nc.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(connect_then_lose_the_server())
    assert "bus disconnected" in warnings(caplog)
