"""`python -m blog.rpc.healthcheck`, the containers' health check: grpc.health.v1 `Check`."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from blog.rpc import healthcheck


@pytest.fixture
def server() -> Iterator[tuple[str, health.HealthServicer]]:
    servicer = health.HealthServicer()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        grpc_server.stop(0)


def test_serving_is_healthy(server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert healthcheck.main([address]) == 0


def test_not_serving_and_unknown_services_are_unhealthy(
    server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, servicer = server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.main([address]) == 1
    assert "NOT_SERVING" in capsys.readouterr().err
    assert healthcheck.main([address, "--service", "blog.v1.Nothing"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_nothing_listening_is_unhealthy_at_once() -> None:
    with socket.socket() as sock:  # bound and released: nothing listens there afterwards
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "blog.rpc.healthcheck", f"127.0.0.1:{port}", "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr


def test_default_address_is_the_containers_own_port() -> None:
    assert healthcheck.default_address({"LAB_LISTEN": "0.0.0.0:6000"}) == "127.0.0.1:6000"
    assert healthcheck.default_address({}) == "127.0.0.1:50051"
