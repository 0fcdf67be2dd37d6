"""A process's tracing: provider, sampler and OTLP JSON file exporter (one file per process).

Sampling is decided once per trace, where it starts (the load generator's client span, or the
first server the request reaches) and followed everywhere after it (parent-based): a request is
traced end to end or not at all. Spans that would start a trace of their own outside a request
(the relay's sweep, a consumer's probe, a statement outside any request) are never made: see
blog.tracing.statements and blog.tracing.messages.

The files are the standard OTLP JSON encoding (JSON lines, one ExportTraceServiceRequest per
line: `resourceSpans` -> `scopeSpans` -> `spans`), so a user can load them into Jaeger, Tempo or
an OpenTelemetry collector's file receiver elsewhere; `lab trace` reads them here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from blog.tracing.state import SCOPE, STATE

# The batch processor's queue: spans beyond it are dropped (and the SDK logs it). Large enough
# for several seconds of a fully sampled run at a few hundred requests/s (~20 spans each).
MAX_QUEUE = 65_536
EXPORT_EVERY_MS = 1_000  # a running stack's files trail by about this much
IMPL_ATTRIBUTE = "lab.impl"


def trace_file(directory: Path, service: str, pid: int | None = None) -> Path:
    """Where a process writes its spans: `<service>-<pid>.otlp.jsonl` (one file per process)."""
    return directory / f"{service}-{pid or os.getpid()}.otlp.jsonl"


def start(service: str, impl: str, sample: float, directory: Path) -> Callable[[], None] | None:
    """Trace this process (when `sample` > 0): spans of a `sample` share of new traces, written
    to a file of its own in `directory`. Returns the function that flushes and closes it (call
    it last), or None when `sample` is 0 (nothing is set up: the NoOp tracer stays)."""
    if sample <= 0:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": f"lab-{impl}",
            "service.instance.id": f"{service}-{os.getpid()}",
            IMPL_ATTRIBUTE: impl,
        }
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(min(sample, 1.0)))
    )
    provider.add_span_processor(
        BatchSpanProcessor(
            FileSpanExporter(trace_file(directory, service)),
            max_queue_size=MAX_QUEUE,
            max_export_batch_size=4_096,
            schedule_delay_millis=EXPORT_EVERY_MS,
        )
    )
    # The global provider too: the gRPC instrumentation and propagators find it there.
    trace.set_tracer_provider(provider)
    STATE.tracer = provider.get_tracer(SCOPE)
    STATE.on = True

    def shutdown() -> None:
        STATE.on = False
        provider.shutdown()  # flushes what the batch processor still holds

    return shutdown
