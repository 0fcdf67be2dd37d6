"""Figure 1, the timeline of a chaos experiment: per second (bucket) and per operation, requests,
errors by status, availability and p50/p99 latency; and its CSV (timeline.csv).

Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from lab.chaos.figures import operations, percentile
from lab.chaos.records import FaultWindow, RequestRecord


class TimelineRowDict(TypedDict):
    second: float
    op: str
    requests: int
    ok: int
    errors: dict[str, int]
    availability: float | None
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One operation in one bucket.

    `second` is the bucket's start relative to the injection (0 = the first bucket of the
    fault, negative before it). A bucket without a request of the op has requests=0 and
    availability None: a gap is neither an outage nor a success. Latencies are over the
    bucket's successful requests (None when there is none)."""

    second: float
    op: str
    requests: int
    ok: int
    errors: dict[str, int]  # status -> count, sorted by status
    availability: float | None  # ok / requests
    p50_ms: float | None
    p99_ms: float | None

    def to_dict(self) -> TimelineRowDict:
        return TimelineRowDict(
            second=self.second,
            op=self.op,
            requests=self.requests,
            ok=self.ok,
            errors=dict(self.errors),
            availability=self.availability,
            p50_ms=self.p50_ms,
            p99_ms=self.p99_ms,
        )


class TimelineDict(TypedDict):
    fault: str
    injected_at: float
    restored_at: float
    bucket_s: float
    ops: list[str]
    rows: list[TimelineRowDict]


@dataclass(frozen=True, slots=True)
class Timeline:
    """Every bucket from the one holding `start` to the one holding `end` (exclusive), for
    every op in `ops`; rows ordered by second, then by op in `ops` order."""

    window: FaultWindow
    bucket_s: float
    ops: tuple[str, ...]
    rows: tuple[TimelineRow, ...]

    def of(self, op: str) -> list[TimelineRow]:
        """The op's rows, in time order."""
        return [row for row in self.rows if row.op == op]

    def to_dict(self) -> TimelineDict:
        return TimelineDict(
            fault=self.window.fault,
            injected_at=self.window.injected_at,
            restored_at=self.window.restored_at,
            bucket_s=self.bucket_s,
            ops=list(self.ops),
            rows=[row.to_dict() for row in self.rows],
        )


def timeline(
    records: Iterable[RequestRecord],
    window: FaultWindow,
    start: float,
    end: float,
    bucket_s: float = 1.0,
    ops: Sequence[str] | None = None,
) -> Timeline:
    """Per bucket of `bucket_s` seconds and per operation: requests, successes, errors by
    status, availability and p50/p99 latency.

    Buckets are aligned on `window.injected_at` (bucket k covers scheduled times
    [injected_at + k * bucket_s, injected_at + (k + 1) * bucket_s)). Only records scheduled in
    [start, end) (epoch seconds) count; the first and last buckets may be partly outside that
    range. `ops` defaults to every op present in `records` (see `operations`), so an op that
    has no request in some bucket still gets a row there (requests=0, availability None).
    Every non-OK status is an error, GENERATOR_* included (it shows under its own name).
    """
    if bucket_s <= 0:
        raise ValueError(f"bucket_s must be > 0, got {bucket_s}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    records = list(records)
    op_order = tuple(ops) if ops is not None else operations(records)
    first = math.floor((start - window.injected_at) / bucket_s)
    last = math.ceil((end - window.injected_at) / bucket_s) - 1
    buckets: dict[tuple[int, str], list[RequestRecord]] = defaultdict(list)
    for r in records:
        if start <= r.scheduled < end and r.op in op_order:
            k = math.floor((r.scheduled - window.injected_at) / bucket_s)
            buckets[(k, r.op)].append(r)
    rows = [
        _row(k * bucket_s, op, buckets.get((k, op), []))
        for k in range(first, last + 1)
        for op in op_order
    ]
    return Timeline(window=window, bucket_s=bucket_s, ops=op_order, rows=tuple(rows))


def _row(second: float, op: str, records: list[RequestRecord]) -> TimelineRow:
    latencies = [r.latency_ms for r in records if r.ok]
    errors = Counter(r.status for r in records if not r.ok)
    return TimelineRow(
        second=second,
        op=op,
        requests=len(records),
        ok=len(latencies),
        errors=dict(sorted(errors.items())),
        availability=len(latencies) / len(records) if records else None,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
    )


TIMELINE_CSV_HEADER = (
    "second",
    "op",
    "requests",
    "ok",
    "errors",
    "availability",
    "p50_ms",
    "p99_ms",
)


def timeline_csv_rows(tl: Timeline) -> list[list[str]]:
    """The CSV's rows (header first). errors as "CODE:n;CODE:n" (sorted by code, empty when
    none); None as an empty cell; second as written by %g (-3, 0, 0.5)."""
    out = [list(TIMELINE_CSV_HEADER)]
    for row in tl.rows:
        out.append(
            [
                f"{row.second:g}",
                row.op,
                str(row.requests),
                str(row.ok),
                ";".join(f"{code}:{n}" for code, n in row.errors.items()),
                _cell(row.availability, 6),
                _cell(row.p50_ms, 3),
                _cell(row.p99_ms, 3),
            ]
        )
    return out


def write_timeline_csv(tl: Timeline, path: Path) -> None:
    """Write `timeline_csv_rows(tl)` to `path`."""
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(timeline_csv_rows(tl))


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{round(value, digits):g}"
