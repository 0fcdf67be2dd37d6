"""gRPC spans from opentelemetry-instrumentation-grpc: a SERVER span per call a service serves,
a CLIENT span per call it makes, the trace context carried in the call's metadata (W3C
traceparent). Only the blog's own services are traced: health checks, reflection and the
MetricsService scrapes are left out (they are not requests).

The server span starts when the handler starts. Besides, it records when the call arrived in
the server's event loop (`lab.grpc.arrived_unix_nano`: the interceptor runs as soon as gRPC
dispatches the call, before the request message has been read), which splits the time between
client and handler into the way there and the wait before the handler (docs/METHOD.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors, client_interceptor
from opentelemetry.instrumentation.grpc._aio_server import OpenTelemetryAioServerInterceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel
from opentelemetry.trace import get_tracer

from blog.tracing.state import STATE

ARRIVED_ATTRIBUTE = "lab.grpc.arrived_unix_nano"
UNTRACED_SERVICES = frozenset({"blog.v1.MetricsService"})

# Set by the server interceptor when a call arrives; read when its span starts. Both run in
# the task gRPC creates for the call, so the value is that call's own.
_ARRIVED: ContextVar[int] = ContextVar("lab_grpc_arrived_ns", default=0)


def is_traced(details: Any) -> bool:
    """A call of one of the blog's services (not health, reflection or metrics)."""
    # Server and aio client: `.method`; the blocking client's call info: `.full_method`.
    method = getattr(details, "method", None) or getattr(details, "full_method", None) or ""
    if isinstance(method, bytes):  # grpc.aio passes bytes on the client side (grpc #31092)
        method = method.decode()
    if not isinstance(method, str) or not method.startswith("/blog.v1."):
        return False
    return method[1:].split("/", 1)[0] not in UNTRACED_SERVICES


class ServerInterceptor(OpenTelemetryAioServerInterceptor):  # type: ignore[misc]
    """The instrumentation's aio server interceptor, with the call's arrival time on its span."""

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        _ARRIVED.set(time.time_ns())
        return await super().intercept_service(continuation, handler_call_details)

    @contextmanager
    def _start_span(
        self, handler_call_details: Any, context: Any, set_status_on_exception: bool = False
    ) -> Iterator[Any]:
        with super()._start_span(handler_call_details, context, set_status_on_exception) as span:
            span.set_attribute(ARRIVED_ATTRIBUTE, _ARRIVED.get())
            yield span


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The interceptors of a service's server: none when this process does not trace."""
    if not STATE.on:
        return []
    tracer = get_tracer(__name__, schema_url="https://opentelemetry.io/schemas/1.11.0")
    return [ServerInterceptor(tracer, filter_=is_traced)]


def aio_interceptors() -> list[Any] | None:
    """The interceptors of a service's channel to a peer: None when this process does not
    trace (a channel without interceptors is gRPC's own fast path)."""
    if not STATE.on:
        return None
    return list(aio_client_interceptors(filter_=is_traced))


def client_channel(channel: grpc.Channel, tracer_provider: Any = None) -> grpc.Channel:
    """A blocking channel (the load generator's) with CLIENT spans, when this process traces
    (or of `tracer_provider`'s, when given)."""
    if tracer_provider is not None:
        interceptor = client_interceptor(tracer_provider=tracer_provider, filter_=is_traced)
        return intercept_channel(channel, interceptor)
    if not STATE.on:
        return channel
    return intercept_channel(channel, client_interceptor(filter_=is_traced))
