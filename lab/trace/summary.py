"""`lab trace`'s output: trace-summary.json (what the report reads: the per-hop table of each
operation and implementation, and the waterfall figures beside it) and its text table.

trace-summary.json:
    {"source": DIR, "files": N, "spans": N, "traces": N,
     "operations": [{"impl", "operation", "traces", "incomplete", "not_from_client",
                     "hops": [{"hop", "category", "traces", "p50_ms", "p99_ms", "offset_ms"}],
                     "typical_trace", "p99_trace",
                     "waterfalls": [{"which": "typical"|"p99", "trace_id", "total_ms",
                                     "spans", "file"}]}]}
Hops come in table order (totals, then as a request meets them, then the unexplained gaps);
`file` is a PNG's name in the same directory as the summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.trace.breakdown import OperationBreakdown, breakdown
from lab.trace.join import Trace, join
from lab.trace.otlp import read_spans, trace_files
from lab.trace.waterfall import draw, figure_name

SUMMARY = "trace-summary.json"
WATERFALL_OPERATIONS = ("CreateComment",)  # the figures the report shows (issue: sync, async)


@dataclass(frozen=True)
class Waterfall:
    which: str  # "typical" or "p99"
    trace_id: str
    total_ms: float
    spans: int
    file: str


@dataclass(frozen=True)
class OperationSummary(OperationBreakdown):
    waterfalls: list[Waterfall] = field(default_factory=list)


@dataclass(frozen=True)
class TraceSummary:
    source: str
    files: int
    spans: int
    traces: int
    operations: list[OperationSummary]

    def write(self, out_dir: Path) -> Path:
        path = out_dir / SUMMARY
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


class NoTraces(Exception):
    """Nothing to break down (no trace files, or no spans in them)."""


def summarize(
    source: Path | Sequence[Path],
    out_dir: Path,
    figures_for: Sequence[str] = WATERFALL_OPERATIONS,
) -> TraceSummary:
    """Read every trace file under `source` (one directory or file, or several pooled), break
    the traces down, draw the waterfalls of `figures_for` into `out_dir`, and write
    trace-summary.json there."""
    sources = [source] if isinstance(source, Path) else list(source)
    files = sorted({f for s in sources for f in trace_files(s)})
    source = sources[0] if len(sources) == 1 else Path(" ".join(str(s) for s in sources))
    if not files:
        raise NoTraces(f"no trace files (*.otlp.jsonl) under {source}")
    spans = read_spans(files)
    if not spans:
        raise NoTraces(f"{len(files)} trace files under {source}, but no spans in them")
    traces = join(spans)
    by_id = {t.trace_id: t for t in traces}
    out_dir.mkdir(parents=True, exist_ok=True)
    operations = []
    for op in breakdown(traces):
        waterfalls = []
        if op.operation in figures_for:
            for which, trace_id in (("typical", op.typical_trace), ("p99", op.p99_trace)):
                waterfalls.append(_waterfall(by_id[trace_id], op, which, out_dir))
        operations.append(OperationSummary(**vars(op), waterfalls=waterfalls))
    summary = TraceSummary(str(source), len(files), len(spans), len(traces), operations)
    summary.write(out_dir)
    return summary


def _waterfall(trace: Trace, op: OperationBreakdown, which: str, out_dir: Path) -> Waterfall:
    label = "a typical" if which == "typical" else "the p99"
    title = f"{op.impl} {op.operation}: {label} trace of {op.traces}, {trace.total_ms:.2f} ms"
    name = draw(trace, title, out_dir, figure_name(op.impl, op.operation, which))
    return Waterfall(which, trace.trace_id, round(trace.total_ms, 3), len(trace.spans), name)


def table(summary: TraceSummary) -> str:
    """The per-hop table of every operation, as text."""
    lines = [f"{summary.traces} traces, {summary.spans} spans from {summary.files} files"]
    for op in summary.operations:
        lines.append("")
        left_out = [
            f"{op.incomplete} incomplete" if op.incomplete else "",
            f"{op.not_from_client} not from the load generator" if op.not_from_client else "",
        ]
        note = ", ".join(n for n in left_out if n)
        lines.append(
            f"{op.impl} {op.operation}: {op.traces} traces{f' ({note}: left out)' if note else ''}"
        )
        width = max([len(h.hop) for h in op.hops] + [3])
        lines.append(f"  {'hop':<{width}}  {'p50 ms':>8}  {'p99 ms':>8}  {'traces':>6}")
        for h in op.hops:
            lines.append(f"  {h.hop:<{width}}  {h.p50_ms:>8.3f}  {h.p99_ms:>8.3f}  {h.traces:>6}")
        for w in op.waterfalls:
            lines.append(f"  waterfall ({w.which}, {w.total_ms:.2f} ms): {w.file}")
    return "\n".join(lines)
