"""A health check for containers: `python -m blog.rpc.healthcheck [ADDRESS] [--service NAME]`.

Asks the gRPC server at ADDRESS (default: this container's own LAB_LISTEN port on 127.0.0.1)
the standard grpc.health.v1 `Check`; exits 0 when the answer is SERVING, 1 otherwise, with one
line on stderr saying why. The Dockerfile's HEALTHCHECK, docker-compose.yml and anything else
that runs a command (Kubernetes uses its native gRPC probe instead) call it.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_PORT = "50051"


def default_address(environ: dict[str, str] | None = None) -> str:
    """127.0.0.1 and the port this container's service listens on (LAB_LISTEN)."""
    listen = (os.environ if environ is None else environ).get("LAB_LISTEN", "")
    port = listen.rsplit(":", 1)[-1] if ":" in listen else DEFAULT_PORT
    return f"127.0.0.1:{port or DEFAULT_PORT}"


def check(address: str, service: str = "", timeout_s: float = 2.0) -> str:
    """The serving status's name (SERVING, NOT_SERVING, ...); raises grpc.RpcError on failure."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blog.rpc.healthcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("address", nargs="?", default=None, help="host:port (default: own port)")
    parser.add_argument("--service", default="", help="service name ('' = the whole server)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds")
    args = parser.parse_args(argv)
    address = args.address or default_address()
    try:
        status = check(address, args.service, args.timeout)
    except grpc.RpcError as error:
        code = error.code().name  # type: ignore[attr-defined]
        print(f"unhealthy: {address}: {code}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    if status != "SERVING":
        print(f"unhealthy: {address}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
