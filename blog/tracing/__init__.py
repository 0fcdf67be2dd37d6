"""OpenTelemetry traces across gRPC, PostgreSQL and NATS (docs/METHOD.md, Where each millisecond
goes).

Off by default: with a sampling rate of 0 (`LAB_TRACE_SAMPLE`, the default) nothing is set up,
no interceptor is installed, statements run on the bare connection, and the helpers below answer
at the cost of one attribute read. On (`setup`), each process writes its spans as OTLP JSON
lines to a file of its own in `LAB_TRACE_DIR`.

- `blog.tracing.setup`: the process's tracer provider, sampler and file exporter.
- `blog.tracing.grpc`: server and client interceptors (opentelemetry-instrumentation-grpc).
- `blog.tracing.statements`: one span per database statement.
- `blog.tracing.messages`: the trace context through the outbox and NATS headers.
"""

from __future__ import annotations

from blog.tracing.state import STATE, enabled, tracer

__all__ = ["STATE", "enabled", "tracer"]
