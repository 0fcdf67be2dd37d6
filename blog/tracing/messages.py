"""The trace context through the transactional outbox and NATS (docs/METHOD.md, Where each
millisecond goes).

A request that writes an event stores its W3C `traceparent` with the outbox row (the same
statement); the relay, later and in another task, continues that trace: an `outbox wait` span
(from the hand-over after the commit, or the row's creation for the sweep, to the publish) and
a PRODUCER span around the publish, whose own traceparent goes in the message's headers beside
Nats-Msg-Id. Each consumer extracts it and processes the message in a CONSUMER span that is a
**child** of the publish, not a link: one message is processed by one span, and the question the
lab asks is where one request's time went, so the whole chain (client, commit, relay, bus,
moderation, read model) is one trace that `lab trace` can join by its id.

Only sampled requests are carried on: a request that is not traced stores NULL, and a message
without a traceparent is processed without a span, so nothing here starts a trace of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from blog.tracing.state import STATE

TRACEPARENT = "traceparent"  # the W3C header, in gRPC metadata and NATS headers alike
MESSAGING = "nats"
_PROPAGATOR = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span if it is sampled; None otherwise (and always
    when this process does not trace)."""
    if not STATE.on:
        return None
    context = get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def parent(traceparent: str) -> Context:
    return _PROPAGATOR.extract({TRACEPARENT: traceparent})


@contextmanager
def publishing(
    subject: str, event_id: str, traceparent: str | None, queued_ns: int, path: str
) -> Iterator[dict[str, str]]:
    """Around the publish of one outbox event: yields the headers to add to the message (the
    publish span's traceparent; none when the event's request was not traced). `queued_ns`:
    when the event was handed to the relay (fast path) or its row was written (sweep)."""
    if not STATE.on or traceparent is None:
        yield {}
        return
    context = parent(traceparent)
    started = time.time_ns()
    attributes = {"lab.outbox.path": path, "messaging.message.id": event_id}
    waited = STATE.tracer.start_span(
        f"outbox wait {subject}",
        context=context,
        start_time=min(queued_ns, started),
        attributes=attributes,
    )
    waited.end(end_time=started)
    with STATE.tracer.start_as_current_span(
        f"publish {subject}",
        context=context,
        kind=SpanKind.PRODUCER,
        start_time=started,
        attributes={
            **attributes,
            "messaging.system": MESSAGING,
            "messaging.operation.type": "send",
            "messaging.destination.name": subject,
        },
    ):
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers)
        yield headers


@contextmanager
def consuming(
    consumer: str,
    subject: str,
    headers: Mapping[str, str] | None,
    received_ns: int,
    delivered: int,
) -> Iterator[None]:
    """Around the processing of one message by `consumer`: a CONSUMER span, child of the
    publish whose traceparent the message carries (none without one). It starts when the
    message reached the consumer (`received_ns`), so the wait for a free slot is inside it."""
    traceparent = headers.get(TRACEPARENT) if headers and STATE.on else None
    if traceparent is None:
        yield
        return
    with STATE.tracer.start_as_current_span(
        f"process {subject}",
        context=parent(traceparent),
        kind=SpanKind.CONSUMER,
        start_time=received_ns,
        attributes={
            "messaging.system": MESSAGING,
            "messaging.operation.type": "process",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": consumer,
            "lab.delivered": delivered,
        },
    ):
        yield


@contextmanager
def step(name: str) -> Iterator[None]:
    """An INTERNAL span `name` inside a sampled request (nothing otherwise), e.g. a consumer's
    transaction that applies an event."""
    if not STATE.on or not get_current_span().is_recording():
        yield
        return
    with STATE.tracer.start_as_current_span(name):
        yield
