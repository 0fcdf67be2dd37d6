"""Every server in stack.json serves grpc.health.v1 and server reflection (the public contract)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lab.stack.runner import Stack
from lab.stack.stackfile import load_stack_file

EXPECTED = {
    "posts": "blog.v1.PostService",
    "comments": "blog.v1.CommentService",
    "query": "blog.v1.QueryService",
}


def test_every_server_has_health_and_reflection(stack: Stack) -> None:
    described = load_stack_file(stack.stack_file)
    assert described["impl"] == stack.config.impl
    assert set(described["services"]) == {"posts", "comments", "moderation", "query"}
    for service, addresses in described["services"].items():
        for address in addresses:
            with grpc.insecure_channel(address) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                if service in EXPECTED:
                    reply = health.Check(
                        health_pb2.HealthCheckRequest(service=EXPECTED[service]), timeout=5
                    )
                    assert reply.status == health_pb2.HealthCheckResponse.SERVING
                stub = reflection_pb2_grpc.ServerReflectionStub(channel)
                request = reflection_pb2.ServerReflectionRequest(list_services="")
                replies = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
                names = {s.name for s in replies[0].list_services_response.service}
                assert "grpc.health.v1.Health" in names
                if service in EXPECTED:
                    assert EXPECTED[service] in names
