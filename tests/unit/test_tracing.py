"""Unit tests of blog.tracing: nothing is set up or carried when tracing is off; when on, the
trace context goes from a request into its events, through the relay's publish into the message
headers and on to the consumer's span, a child of the publish (an in-memory exporter)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    NoOpTracer,
    SpanContext,
    SpanKind,
    TraceFlags,
    use_span,
)

from blog import events
from blog.domain import Post
from blog.tracing import STATE
from blog.tracing.grpc import SampledChannel, aio_channel, is_traced, server_interceptors
from blog.tracing.messages import consuming, current_traceparent, publishing, step


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test (every trace sampled), spans in memory; off again after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    STATE.on, STATE.tracer = True, provider.get_tracer("test")
    try:
        yield exporter
    finally:
        STATE.on, STATE.tracer = False, NoOpTracer()
        provider.shutdown()


def post() -> Post:
    return Post(str(uuid.uuid4()), "t", "b", datetime.now(UTC))


def test_off_nothing_is_set_up_or_carried() -> None:
    assert not STATE.on
    assert server_interceptors() == []

    async def channel_kind() -> str:
        channel = aio_channel("127.0.0.1:1", [])
        await channel.close()
        return type(channel).__name__

    assert asyncio.run(channel_kind()) != SampledChannel.__name__  # gRPC's own
    assert current_traceparent() is None
    assert events.post_created(post()).traceparent is None
    with publishing(
        "blog.post.created", "id", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", 0, "fast"
    ) as headers:
        assert headers == {}


def test_a_traced_request_reaches_the_consumer_through_the_event_and_the_headers(
    spans: InMemorySpanExporter,
) -> None:
    with STATE.tracer.start_as_current_span("request") as request:
        event = events.post_created(post())
    trace_id = f"{request.get_span_context().trace_id:032x}"
    assert event.traceparent == f"00-{trace_id}-{request.get_span_context().span_id:016x}-01"

    queued = time.time_ns()
    with publishing(event.subject, event.event_id, event.traceparent, queued, "fast") as headers:
        assert headers["traceparent"].split("-")[1] == trace_id
    with consuming("query", event.subject, headers, time.time_ns(), 1):
        with step(f"apply {event.subject}"):
            pass
    by_name = {s.name: s for s in spans.get_finished_spans()}
    wait, publish = by_name[f"outbox wait {event.subject}"], by_name[f"publish {event.subject}"]
    process, apply = by_name[f"process {event.subject}"], by_name[f"apply {event.subject}"]
    request_id = request.get_span_context().span_id
    assert wait.parent is not None and wait.parent.span_id == request_id
    assert wait.start_time == queued and wait.end_time == publish.start_time
    assert publish.kind is SpanKind.PRODUCER and publish.parent.span_id == request_id  # type: ignore[union-attr]
    assert process.kind is SpanKind.CONSUMER
    assert process.parent.span_id == publish.context.span_id  # type: ignore[union-attr]
    assert apply.parent.span_id == process.context.span_id  # type: ignore[union-attr]
    assert {s.context.trace_id for s in by_name.values()} == {request.get_span_context().trace_id}


def test_nothing_starts_a_trace_outside_a_request(spans: InMemorySpanExporter) -> None:
    assert current_traceparent() is None  # no request: the event carries nothing
    with publishing("blog.post.created", "id", None, 0, "sweep") as headers:
        assert headers == {}
    with consuming("query", "blog.post.created", {"Nats-Msg-Id": "x"}, 0, 1), step("apply x"):
        pass
    assert spans.get_finished_spans() == ()


def test_only_the_blogs_own_calls_are_traced() -> None:
    def call(method: str | bytes) -> SimpleNamespace:
        return SimpleNamespace(method=method)

    assert is_traced(call("/blog.v1.CommentService/CreateComment"))
    assert is_traced(call(b"/blog.v1.PostService/GetPost"))  # grpc.aio's client side
    assert is_traced(SimpleNamespace(full_method="/blog.v1.QueryService/GetPostView"))
    assert not is_traced(call("/grpc.health.v1.Health/Check"))
    assert not is_traced(call("/blog.v1.MetricsService/GetMetrics"))


def test_a_call_goes_through_the_interceptors_only_in_a_sampled_request(
    spans: InMemorySpanExporter,
) -> None:
    sent: list[tuple[str, Any]] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.name = name

        def unary_unary(self, method: str) -> Any:
            return lambda request, metadata=None, **_: sent.append((self.name, metadata))

    channel = SampledChannel(Fake("plain"), Fake("traced"))  # type: ignore[arg-type]
    call = channel.unary_unary("/blog.v1.PostService/GetPost")
    call(b"outside any request")
    with STATE.tracer.start_as_current_span("sampled"):
        call(b"x")
    not_sampled = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(0))
    with use_span(NonRecordingSpan(not_sampled)):
        call(b"y")
    assert sent == [
        ("plain", None),
        ("traced", None),
        ("plain", (("traceparent", f"00-{0xAB:032x}-{0xCD:016x}-00"),)),
    ]
