"""gRPC spans from opentelemetry-instrumentation-grpc: a SERVER span per call a service serves,
a CLIENT span per call it makes, the trace context carried in the call's metadata (W3C
traceparent). Only the blog's own services are traced: health checks, reflection and the
MetricsService scrapes are left out (they are not requests).

A request that is not sampled skips the instrumentation, which costs more than the call itself
in grpc.aio (its client interceptor most: measured by benchmarks/floor/grpc_spans.py): its calls
go out on a second channel without interceptors, carrying the not-sampled traceparent in their
metadata themselves, and a server that receives one attaches that context and runs the handler
unwrapped, so the decision still reaches every service and none starts a trace of its own.

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
from opentelemetry.context import attach
from opentelemetry.instrumentation.grpc import aio_client_interceptors, client_interceptor
from opentelemetry.instrumentation.grpc._aio_server import OpenTelemetryAioServerInterceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel
from opentelemetry.trace import get_current_span, get_tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from blog.tracing.state import STATE

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()

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
    """The instrumentation's aio server interceptor, with the call's arrival time on its span;
    a call whose traceparent says "not sampled" runs unwrapped in that context."""

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        _ARRIVED.set(time.time_ns())
        traceparent = _traceparent(handler_call_details.invocation_metadata)
        if traceparent is not None and traceparent.endswith("-00"):
            # gRPC runs the interceptors and then the handler in the call's own task: the
            # context attached here is the handler's (and its calls carry it on).
            attach(_PROPAGATOR.extract({TRACEPARENT: traceparent}))
            return await continuation(handler_call_details)
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


def _traceparent(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == TRACEPARENT:
            return str(value)
    return None


def aio_channel(target: str, options: list[tuple[str, Any]]) -> Any:
    """A channel to a peer: gRPC's own when this process does not trace; else one that sends
    each call of a sampled request through the instrumentation's interceptors and every other
    call through a plain channel beside it (see the module docstring)."""
    plain = grpc.aio.insecure_channel(target, options=options)
    if not STATE.on:
        return plain
    interceptors = list(aio_client_interceptors(filter_=is_traced))
    traced = grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return SampledChannel(plain, traced)


class SampledChannel:
    """Two channels to one peer, as one to the stubs: per call, the traced one inside a sampled
    request, the plain one (with the current traceparent, if any) otherwise."""

    def __init__(self, plain: grpc.aio.Channel, traced: grpc.aio.Channel) -> None:
        self.plain, self.traced = plain, traced

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _PerCall(
            self.plain.unary_unary(method, *args, **kwargs),
            self.traced.unary_unary(method, *args, **kwargs),
        )

    async def close(self, grace: float | None = None) -> None:
        await self.plain.close(grace)
        await self.traced.close(grace)

    async def channel_ready(self) -> None:
        await self.plain.channel_ready()
        await self.traced.channel_ready()


class _PerCall:
    def __init__(self, plain: Any, traced: Any) -> None:
        self.plain, self.traced = plain, traced

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        span = get_current_span()
        if span.is_recording():
            return self.traced(request, metadata=metadata, **kwargs)
        context = span.get_span_context()
        if context.is_valid:  # a request not sampled: say so downstream
            traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-00"
            metadata = (*(metadata or ()), (TRACEPARENT, traceparent))
        return self.plain(request, metadata=metadata, **kwargs)


def client_channel(channel: grpc.Channel, tracer_provider: Any = None) -> grpc.Channel:
    """A blocking channel (the load generator's) with CLIENT spans, when this process traces
    (or of `tracer_provider`'s, when given)."""
    if tracer_provider is not None:
        interceptor = client_interceptor(tracer_provider=tracer_provider, filter_=is_traced)
        return intercept_channel(channel, interceptor)
    if not STATE.on:
        return channel
    return intercept_channel(channel, client_interceptor(filter_=is_traced))
