"""Spans joined into traces by trace id: the tree, the root, the operation it answers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.trace.otlp import Span


@dataclass
class Trace:
    """One request's spans. The root is the span whose parent is not in the trace (the load
    generator's CLIENT span when the client traced, else the first server's SERVER span)."""

    trace_id: str
    spans: list[Span]
    root: Span
    children: dict[str, list[Span]] = field(default_factory=dict)
    orphans: int = 0  # spans whose parent is missing (a process killed before it flushed)

    @property
    def operation(self) -> str:
        """The RPC the trace answers: CreateComment for /blog.v1.CommentService/CreateComment."""
        return self.root.name.rsplit("/", 1)[-1]

    @property
    def impl(self) -> str:
        return self.root.impl

    @property
    def start_ns(self) -> int:
        return self.root.start_ns

    @property
    def end_ns(self) -> int:
        return max(s.end_ns for s in self.spans)

    @property
    def total_ms(self) -> float:
        """From the root's start to the end of its last span (async: the last consumer)."""
        return (self.end_ns - self.start_ns) / 1e6

    def kids(self, span: Span) -> list[Span]:
        return self.children.get(span.span_id, [])

    def walk(self) -> list[tuple[int, Span]]:
        """Every span reachable from the root with its depth, depth first, children by start."""
        out: list[tuple[int, Span]] = []
        stack = [(0, self.root)]
        while stack:
            depth, span = stack.pop()
            out.append((depth, span))
            stack.extend((depth + 1, kid) for kid in reversed(self.kids(span)))
        return out


def join(spans: Iterable[Span]) -> list[Trace]:
    """Traces by trace id, in the order of their start (ties by id)."""
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    traces = []
    for trace_id, members in by_trace.items():
        ids = {s.span_id for s in members}
        roots = sorted(
            (s for s in members if not s.parent_id or s.parent_id not in ids),
            key=lambda s: (s.parent_id != "", s.start_ns, s.span_id),
        )
        children: dict[str, list[Span]] = defaultdict(list)
        for span in members:
            if span.parent_id in ids:
                children[span.parent_id].append(span)
        for kids in children.values():
            kids.sort(key=lambda s: (s.start_ns, s.span_id))
        root = roots[0]
        traces.append(Trace(trace_id, members, root, dict(children), orphans=len(roots) - 1))
    traces.sort(key=lambda t: (t.start_ns, t.trace_id))
    return traces
