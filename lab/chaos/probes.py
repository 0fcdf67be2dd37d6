"""Probes of a running stack and its load, as plain functions (Chaos Toolkit calls them; so can
anything else). Each returns a small value and bounds its own time."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lab.chaos.records import read_request_log
from lab.stack.stackfile import load_stack_file

FLUSH_S = 1.0  # the load generator writes its request log at least this often


def all_serving(stack_file: str, timeout_s: float = 1.0) -> bool:
    """Every replica of every service answers the gRPC health check with SERVING."""
    services = load_stack_file(Path(stack_file))["services"]
    for addresses in services.values():
        for address in addresses:
            with grpc.insecure_channel(address) as channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=timeout_s
                    )
                except grpc.RpcError:
                    return False
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    return False
    return True


def error_rate(request_log: str, window_s: float = 2.0) -> float:
    """The share of the load's requests that failed among those that ended in the last
    `window_s` seconds (ignoring the last second, which may not be written yet). 1.0 when no
    request ended then: no load is no steady state."""
    until = time.time() - FLUSH_S
    since = until - window_s
    recent = [
        r
        for r in read_request_log(Path(request_log).glob("requests-*.jsonl"))
        if since <= r.end < until
    ]
    if not recent:
        return 1.0
    return sum(not r.ok for r in recent) / len(recent)
