"""A trace's hops: where its time went, each a named interval (docs/METHOD.md, Where each
millisecond goes).

- way there / way back: a CLIENT span's start to the moment its call arrived in the server's
  event loop (`lab.grpc.arrived_unix_nano`), and the server span's end to the client's end;
- queueing before the handler: the arrival to the handler's start (the request message read
  through gRPC's core, one more turn of a busy event loop);
- peer call: a service's CLIENT span to another service, whole;
- statement: one database statement (its round trip included); connection wait: a wait of
  0.1 ms or more for a free pooled connection (shorter ones make no span);
- outbox wait: from the hand-over after the commit (or the row's creation, for the sweep) to
  the relay's publish; publish: until the stream acknowledged it;
- bus delivery: the publish's start to the consumer receiving the message;
- consumer processing: the consumer's span (the wait for a free slot, the transaction, the ack);
  apply: its transaction; read-model apply: the query service's;
- unexplained gap: the time of a handler, consumer or apply not covered by any span under it
  (Python code, the event loop's other work, BEGIN and COMMIT), per process and in total.

Hops are not additive across the whole trace (a peer call contains its callee's statements;
async branches overlap): each answers "how long did this step take" on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lab.trace.join import Trace
from lab.trace.otlp import Span

ARRIVED = "lab.grpc.arrived_unix_nano"  # blog.tracing.grpc.ARRIVED_ATTRIBUTE
CLIENT_SERVICE = "client"  # the load generator's spans (benchmarks/locustfile.py)
READ_MODEL = "query"
OUTBOX_WAIT = "outbox wait "  # + subject (blog.tracing.messages)

# Categories of hops (the table puts totals first and gaps last).
CATEGORIES = (
    "total",
    "network",
    "queue",
    "peer",
    "statement",
    "outbox",
    "bus",
    "consumer",
    "apply",
    "gap",
)


@dataclass(frozen=True)
class Hop:
    """One hop of one trace: its name, category, start (ms after the trace's start) and
    duration (ms; hops of the same name in one trace are added up)."""

    name: str
    category: str
    offset_ms: float
    ms: float


def method(span: Span) -> str:
    return span.name.rsplit("/", 1)[-1]


def is_rpc(span: Span) -> bool:
    return span.name.startswith("/")


def is_statement(span: Span) -> bool:
    return "db.system.name" in span.attributes


def covered_ns(span: Span, parts: Iterable[Span]) -> int:
    """How much of `span` the union of `parts` covers (each clipped to it)."""
    intervals = sorted(
        (max(p.start_ns, span.start_ns), min(p.end_ns, span.end_ns))
        for p in parts
        if p.end_ns > span.start_ns and p.start_ns < span.end_ns
    )
    total, reach = 0, span.start_ns
    for start, end in intervals:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def trace_hops(trace: Trace) -> list[Hop]:
    """The hops of one trace, same names added up, in the order they start."""
    t0 = trace.start_ns
    by_id = {s.span_id: s for s in trace.spans}
    found: dict[str, Hop] = {}

    def add(name: str, category: str, start_ns: int, ns: int) -> None:
        ms = max(ns, 0) / 1e6
        if name in found:
            known = found[name]
            found[name] = Hop(name, category, known.offset_ms, known.ms + ms)
        else:
            found[name] = Hop(name, category, (start_ns - t0) / 1e6, ms)

    root = trace.root
    add("response", "total", root.start_ns, root.end_ns - root.start_ns)
    applies = [s for s in trace.spans if s.service == READ_MODEL and s.name.startswith("apply ")]
    if applies:
        last = max(a.end_ns for a in applies)
        add("until the read model", "total", root.start_ns, last - root.start_ns)
    gaps = 0
    for span in sorted(trace.spans, key=lambda s: (s.start_ns, s.span_id)):
        parent = by_id.get(span.parent_id)
        gap = None
        if span.kind == "SERVER" and is_rpc(span):
            arrived = int(span.attributes.get(ARRIVED, 0)) or span.start_ns
            if parent is not None and parent.kind == "CLIENT":
                there = f"{parent.service} → {span.service}"
                add(f"{there}: way there", "network", parent.start_ns, arrived - parent.start_ns)
                back = f"{span.service} → {parent.service}"
                add(f"{back}: way back", "network", span.end_ns, parent.end_ns - span.end_ns)
            add(
                f"queueing before the handler [{span.service}]",
                "queue",
                arrived,
                span.start_ns - arrived,
            )
            gap = f"unexplained gap [{span.service} handler]"
        elif span.kind == "CLIENT" and is_statement(span):
            add(f"statement [{span.service}] {span.name}", "statement", span.start_ns, _ns(span))
        elif span.kind == "CLIENT" and is_rpc(span) and span.service != CLIENT_SERVICE:
            callee = next((k.service for k in trace.kids(span) if k.kind == "SERVER"), "?")
            name = f"peer call {span.service} → {callee} {method(span)}"
            add(name, "peer", span.start_ns, _ns(span))
        elif span.name == "connection wait":
            add(f"connection wait [{span.service}]", "queue", span.start_ns, _ns(span))
        elif span.name.startswith(OUTBOX_WAIT):
            add(
                f"outbox wait [{span.service}] {_subject(span)}", "outbox", span.start_ns, _ns(span)
            )
        elif span.kind == "PRODUCER":
            add(f"publish [{span.service}] {_subject(span)}", "bus", span.start_ns, _ns(span))
        elif span.kind == "CONSUMER":
            subject = _subject(span)
            if parent is not None and parent.kind == "PRODUCER":
                delivery = span.start_ns - parent.start_ns
                add(f"bus delivery {subject} → {span.service}", "bus", parent.start_ns, delivery)
            add(
                f"consumer processing [{span.service}] {subject}",
                "consumer",
                span.start_ns,
                _ns(span),
            )
            gap = f"unexplained gap [{span.service} consumer]"
        elif span.kind == "INTERNAL" and span.name.startswith("apply "):
            event = span.name.removeprefix("apply ")
            name = (
                f"read-model apply {event}"
                if span.service == READ_MODEL
                else f"apply [{span.service}] {event}"
            )
            add(name, "apply", span.start_ns, _ns(span))
            gap = f"unexplained gap [{span.service} apply]"
        if gap is not None:
            # What runs on the span's own path: statements, peer calls, applies (not the
            # relay's outbox wait and publish, which go on after the handler answered).
            inner = [
                k
                for k in trace.kids(span)
                if k.kind in ("CLIENT", "INTERNAL") and not k.name.startswith(OUTBOX_WAIT)
            ]
            uncovered = _ns(span) - covered_ns(span, inner)
            gaps += uncovered
            add(gap, "gap", span.start_ns, uncovered)
    add("unexplained gap (all)", "gap", root.start_ns, gaps)
    return sorted(found.values(), key=lambda h: (h.offset_ms, h.name))


def _ns(span: Span) -> int:
    return span.end_ns - span.start_ns


def _subject(span: Span) -> str:
    return str(span.attributes.get("messaging.destination.name", span.name.rsplit(" ", 1)[-1]))
