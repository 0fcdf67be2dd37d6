"""Whether this process traces, and its tracer: one place every helper reads first."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace

# The instrumentation scope of every span the lab creates itself.
SCOPE = "sync-async-lab"


@dataclass
class TracingState:
    """Set once by blog.tracing.setup.start; `on` stays False in a process that does not trace."""

    on: bool = False
    tracer: trace.Tracer = trace.NoOpTracer()


STATE = TracingState()


def enabled() -> bool:
    return STATE.on


def tracer() -> trace.Tracer:
    return STATE.tracer
