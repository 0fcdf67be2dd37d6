"""Per operation and implementation: the median and p99 of each hop over its traces, and the
traces the waterfalls show (a typical one and the p99 one)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from lab.trace.hops import CATEGORIES, CLIENT_SERVICE, Hop, trace_hops
from lab.trace.join import Trace


@dataclass(frozen=True)
class HopFigure:
    """One hop over the traces of an operation: in how many it occurred, its median and p99
    (ms, nearest rank), and its median start after the trace's start (the table's order)."""

    hop: str
    category: str
    traces: int
    p50_ms: float
    p99_ms: float
    offset_ms: float


@dataclass(frozen=True)
class OperationBreakdown:
    """One operation of one implementation: its traces, its hops, and the typical and p99
    traces (by the trace's extent: response in sync, until the last consumer in async)."""

    impl: str
    operation: str
    traces: int
    incomplete: int  # traces with a span whose parent is missing: left out of the figures
    not_from_client: int  # traces started by a service, beside the load generator's: left out
    hops: list[HopFigure]
    typical_trace: str
    p99_trace: str


def nearest_rank(values: Sequence[float], p: float) -> float:
    """The p-th percentile by nearest rank (a value that occurred)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def typical_and_p99(traces: Sequence[Trace]) -> tuple[Trace, Trace]:
    """The trace at the median of the traces' extents (the lower one of an even count) and
    the one at their p99 (nearest rank)."""
    ordered = sorted(traces, key=lambda t: (t.total_ms, t.trace_id))
    n = len(ordered)
    return ordered[(n - 1) // 2], ordered[max(0, math.ceil(0.99 * n) - 1)]


def breakdown(traces: Sequence[Trace]) -> list[OperationBreakdown]:
    """Every (implementation, operation) of these traces, sorted by both."""
    groups: dict[tuple[str, str], list[Trace]] = defaultdict(list)
    for trace in traces:
        groups[(trace.impl, trace.operation)].append(trace)
    return [operation(impl, op, groups[(impl, op)]) for impl, op in sorted(groups)]


def operation(impl: str, op: str, traces: Sequence[Trace]) -> OperationBreakdown:
    complete = [t for t in traces if t.orphans == 0] or list(traces)
    # When the load generator traced, its requests alone: a trace a service started is another
    # client's (the benchmark's seeding, a probe, the CLI), not the load measured.
    from_client = [t for t in complete if t.root.service == CLIENT_SERVICE]
    others = len(complete) - len(from_client) if from_client else 0
    complete = from_client or complete
    per_hop: dict[str, list[Hop]] = defaultdict(list)
    for trace in complete:
        for hop in trace_hops(trace):
            per_hop[hop.name].append(hop)
    figures = [
        HopFigure(
            hop=name,
            category=hops[0].category,
            traces=len(hops),
            p50_ms=round(median(h.ms for h in hops), 3),
            p99_ms=round(nearest_rank([h.ms for h in hops], 99), 3),
            offset_ms=round(median(h.offset_ms for h in hops), 3),
        )
        for name, hops in per_hop.items()
    ]
    figures.sort(key=_order)
    typical, p99 = typical_and_p99(complete)
    return OperationBreakdown(
        impl=impl,
        operation=op,
        traces=len(complete),
        incomplete=len(traces) - len([t for t in traces if t.orphans == 0]),
        not_from_client=others,
        hops=figures,
        typical_trace=typical.trace_id,
        p99_trace=p99.trace_id,
    )


def _order(figure: HopFigure) -> tuple[int, float, str]:
    """Totals first, the gaps last, the rest in the order a request meets them."""
    first = {"total": 0, "gap": 2}.get(figure.category, 1)
    return first, figure.offset_ms if first == 1 else CATEGORIES.index(figure.category), figure.hop
