"""Spans from OTLP JSON lines files (each line an ExportTraceServiceRequest, as
opentelemetry-exporter-otlp-json-file writes it: resourceSpans -> scopeSpans -> spans)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIX = ".otlp.jsonl"
# OTLP's SpanKind numbers.
KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}

AttributeValue = str | int | float | bool


class TraceFileError(Exception):
    """A file that is not OTLP JSON lines (named, with the line)."""


@dataclass(frozen=True)
class Span:
    """One span, with the service and implementation of the process that made it."""

    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    start_ns: int
    end_ns: int
    service: str
    impl: str
    attributes: dict[str, AttributeValue] = field(default_factory=dict, compare=False)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def trace_files(root: Path) -> list[Path]:
    """Every trace file under `root` (a run directory, a stack's data directory, or one file)."""
    if root.is_file():
        return [root]
    return sorted(root.rglob(f"*{SUFFIX}"))


def read_spans(paths: Iterable[Path]) -> list[Span]:
    """Every span of these files (a line cut short by a killed process is skipped)."""
    return [span for path in paths for span in _spans_of(path)]


def _spans_of(path: Path) -> Iterator[Span]:
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError as error:
                if not line.endswith("\n"):
                    return  # the last line of a process killed while writing it
                raise TraceFileError(f"{path}:{number}: not JSON: {error}") from None
            if not isinstance(request, dict) or "resourceSpans" not in request:
                raise TraceFileError(f"{path}:{number}: no resourceSpans (not OTLP JSON)")
            yield from _decode(request)


def _decode(request: dict[str, Any]) -> Iterator[Span]:
    for resource_spans in request["resourceSpans"]:
        resource = attributes(resource_spans.get("resource", {}).get("attributes", []))
        service = str(resource.get("service.name", "?"))
        impl = str(resource.get("lab.impl", "?"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for s in scope_spans.get("spans", []):
                yield Span(
                    trace_id=s["traceId"],
                    span_id=s["spanId"],
                    parent_id=s.get("parentSpanId", ""),
                    name=s["name"],
                    kind=KINDS.get(int(s.get("kind", 0)), "UNSPECIFIED"),
                    start_ns=int(s["startTimeUnixNano"]),
                    end_ns=int(s["endTimeUnixNano"]),
                    service=service,
                    impl=impl,
                    attributes=attributes(s.get("attributes", [])),
                )


def attributes(items: list[dict[str, Any]]) -> dict[str, AttributeValue]:
    """OTLP's key/value list as a dict (int64 values are JSON strings in OTLP JSON)."""
    out: dict[str, AttributeValue] = {}
    for item in items:
        value = item.get("value", {})
        if "stringValue" in value:
            out[item["key"]] = value["stringValue"]
        elif "intValue" in value:
            out[item["key"]] = int(value["intValue"])
        elif "doubleValue" in value:
            out[item["key"]] = float(value["doubleValue"])
        elif "boolValue" in value:
            out[item["key"]] = bool(value["boolValue"])
    return out
