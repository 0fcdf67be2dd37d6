"""gRPC users for Locust, built the way Locust documents for other protocols: an abstract user
holding the blog's stubs on one channel per service, and an interceptor that fires Locust's
request event for every call.

Defines classes only: the locustfile imports it after grpc.experimental.gevent.init_gevent(),
which must run before any channel exists.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import grpc
from locust import User
from locust.exception import LocustError

from benchmarks.floor.bare_chain import METHOD as BARE_METHOD
from benchmarks.load.scenarios import Stubs
from blog.rpc.channels import channel_options, grpc_target
from blog.tracing import setup as tracing
from blog.tracing.grpc import client_channel
from blog.v1 import api_pb2_grpc

CLIENT_SERVICE = "client"  # the service name of the generator's spans (lab/trace)
_STOP_TRACING: list[Any] = []


def start_client_tracing(options: Any, stack: str) -> None:
    """Trace a share (--lab-trace-sample) of this process's calls from the client, so a trace
    starts where the request does: its CLIENT span is the root, and the services follow its
    sampling decision (docs/METHOD.md, Where each millisecond goes). Once per process."""
    if _STOP_TRACING or options.lab_trace_sample <= 0:
        return
    if not options.lab_trace_dir:
        raise LocustError("--lab-trace-sample needs --lab-trace-dir")
    impl = json.loads(Path(stack).read_text()).get("impl", "?")
    stop = tracing.start(
        CLIENT_SERVICE, impl, min(options.lab_trace_sample, 1.0), Path(options.lab_trace_dir)
    )
    _STOP_TRACING.append(stop)


def stop_client_tracing() -> None:
    """Flush this process's spans (at its end)."""
    while _STOP_TRACING:
        stop = _STOP_TRACING.pop()
        if stop is not None:
            stop()


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fires Locust's request event for every call (Locust's own statistics)."""

    def __init__(self, environment: Any) -> None:
        self.env = environment

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        exception = None
        length = 0
        start = time.perf_counter()
        response = continuation(details, request)
        try:
            result = response.result()
            length = len(result) if isinstance(result, bytes) else result.ByteSize()
        except grpc.RpcError as error:
            exception = error
        self.env.events.request.fire(
            request_type="grpc",
            name=details.method.rsplit("/", 1)[-1],
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            response=None,
            context=None,
            exception=exception,
        )
        return response


# What a lab user targets is a stack (its stack.json names every service), not one host. Locust's
# web UI shows it in its Host field and header as `stack:PATH`, filled from --lab-stack
# (locustfile.py); a stack named there when a test starts is the one driven.
STACK_HOST = "stack:"


def stack_host(stack_file: str) -> str:
    """The Host a user class shows for --lab-stack `stack_file`: `stack:.lab/sync/stack.json`."""
    return f"{STACK_HOST}{stack_file}"


def stack_file(environment: Any) -> str:
    """The stack.json this generator drives: the `stack:PATH` Host of the test (the web UI's
    field), else --lab-stack (or LAB_STACK)."""
    host = environment.host or ""
    if host.startswith(STACK_HOST):
        return host.removeprefix(STACK_HOST)
    return str(environment.parsed_options.lab_stack)


class GrpcUser(User):
    """An abstract Locust user with the blog's stubs on one channel (its 'connection')."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        stack = stack_file(environment)
        if not stack:
            raise LocustError("--lab-stack (or LAB_STACK) must name a stack.json")
        services = json.loads(Path(stack).read_text())["services"]

        def channel(service: str, addresses: Any = None) -> grpc.Channel:
            target = grpc_target(addresses or services[service])
            # The trace's CLIENT span next to the wire, Locust's timing around it.
            return grpc.intercept_channel(
                client_channel(grpc.insecure_channel(target, options=channel_options())),
                LocustInterceptor(environment),
            )

        self.bare: dict[str, Any] = {}
        if options.lab_bare:  # a bare chain: one generic call per operation, its plan as body
            routes = json.loads(Path(options.lab_bare).read_text())
            for op, (role, plan) in routes["plans"].items():
                step = channel(role, routes["addresses"][role]).unary_unary(BARE_METHOD)
                self.bare[op] = (step, json.dumps(plan).encode())

        self.channels = [channel("posts"), channel("comments"), channel("query")]
        self.stubs = Stubs(
            api_pb2_grpc.PostServiceStub(self.channels[0]),
            api_pb2_grpc.CommentServiceStub(self.channels[1]),
            api_pb2_grpc.QueryServiceStub(self.channels[2]),
        )

    def on_stop(self) -> None:
        for channel in self.channels:
            channel.close()
