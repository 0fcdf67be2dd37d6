"""The figures of a chaos experiment, computed from its request log and its fault window.

Pure functions of `RequestRecord`s (chaos/records.py) and one `FaultWindow`; the only I/O is
`write_timeline_csv`. Every time is bucketed or phased by the request's SCHEDULED start (open
loop: a request due during the fault belongs to the fault even if it was sent or answered later),
and every latency runs from the scheduled start to the end (docs/METHOD.md, Latency).

Percentiles here are exact nearest-rank over the successful requests of a bucket or phase (the
value at rank ceil(p/100 * n) of the sorted latencies), not HDR histograms: a second holds few
requests, and an exact value makes the figures testable.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

from chaos.records import FaultWindow, RequestRecord

# The public operations in the order figures list them; any other op seen follows, sorted.
OPERATIONS = (
    "CreatePost",
    "GetPost",
    "CreateComment",
    "ListComments",
    "GetPostView",
    "ListPostViews",
)

Phase = Literal["before", "during", "after"]
PHASES: tuple[Phase, ...] = ("before", "during", "after")


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ceil(p/100 * n) of the sorted values (rank 1
    for p = 0); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def operations(records: Iterable[RequestRecord]) -> tuple[str, ...]:
    """The ops present in the records: OPERATIONS' order first, any other op after, sorted."""
    seen = {r.op for r in records}
    return tuple(op for op in OPERATIONS if op in seen) + tuple(sorted(seen.difference(OPERATIONS)))


def phase_of(scheduled: float, window: FaultWindow, warmup_end: float) -> Phase | None:
    """before = [warmup_end, injected_at), during = [injected_at, restored_at),
    after = [restored_at, ...); None in the warm-up."""
    if scheduled < warmup_end:
        return None
    if scheduled < window.injected_at:
        return "before"
    if scheduled < window.restored_at:
        return "during"
    return "after"


# --- 1. Timeline ------------------------------------------------------------------------------


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


# --- 2. Availability per phase, 5. p99 per phase ----------------------------------------------


class PhaseAvailabilityDict(TypedDict):
    before: float | None
    during: float | None
    after: float | None
    requests_before: int
    requests_during: int
    requests_after: int


@dataclass(frozen=True, slots=True)
class PhaseAvailability:
    """One op's share of successful requests per phase (None: no request in the phase), and
    the number of requests it is over."""

    before: float | None
    during: float | None
    after: float | None
    requests_before: int
    requests_during: int
    requests_after: int

    def to_dict(self) -> PhaseAvailabilityDict:
        return PhaseAvailabilityDict(
            before=self.before,
            during=self.during,
            after=self.after,
            requests_before=self.requests_before,
            requests_during=self.requests_during,
            requests_after=self.requests_after,
        )


def _by_op_and_phase(
    records: Iterable[RequestRecord], window: FaultWindow, warmup_end: float
) -> dict[str, dict[Phase, list[RequestRecord]]]:
    records = list(records)
    grouped: dict[str, dict[Phase, list[RequestRecord]]] = {
        op: {phase: [] for phase in PHASES} for op in operations(records)
    }
    for r in records:
        phase = phase_of(r.scheduled, window, warmup_end)
        if phase is not None:
            grouped[r.op][phase].append(r)
    return grouped


def availability(
    records: Iterable[RequestRecord], window: FaultWindow, warmup_end: float
) -> dict[str, PhaseAvailability]:
    """Per op (every op present in the records), the fraction of its requests that succeeded
    in each phase, by scheduled time: before = [warmup_end, injected_at), during =
    [injected_at, restored_at), after = [restored_at, the last record]. None for a phase with
    no request of the op. Requests scheduled before warmup_end are ignored."""
    out: dict[str, PhaseAvailability] = {}
    for op, phases in _by_op_and_phase(records, window, warmup_end).items():
        shares = {p: _share_ok(rs) for p, rs in phases.items()}
        out[op] = PhaseAvailability(
            before=shares["before"],
            during=shares["during"],
            after=shares["after"],
            requests_before=len(phases["before"]),
            requests_during=len(phases["during"]),
            requests_after=len(phases["after"]),
        )
    return out


def _share_ok(records: list[RequestRecord]) -> float | None:
    return sum(r.ok for r in records) / len(records) if records else None


class PhaseLatencyDict(TypedDict):
    before: float | None
    during: float | None
    after: float | None


@dataclass(frozen=True, slots=True)
class PhaseLatency:
    """One op's latency (ms, from the scheduled start) per phase; None: no successful request."""

    before: float | None
    during: float | None
    after: float | None

    def to_dict(self) -> PhaseLatencyDict:
        return PhaseLatencyDict(before=self.before, during=self.during, after=self.after)


def phase_p99(
    records: Iterable[RequestRecord],
    window: FaultWindow,
    warmup_end: float,
    p: float = 99.0,
) -> dict[str, PhaseLatency]:
    """Per op, the p-th percentile (default 99) of the latency of its SUCCESSFUL requests in
    each phase (phases as in `availability`); failed requests carry no latency."""
    out: dict[str, PhaseLatency] = {}
    for op, phases in _by_op_and_phase(records, window, warmup_end).items():
        values = {
            ph: percentile([r.latency_ms for r in rs if r.ok], p) for ph, rs in phases.items()
        }
        out[op] = PhaseLatency(
            before=values["before"], during=values["during"], after=values["after"]
        )
    return out


# --- 3. Recovery ------------------------------------------------------------------------------


def recovery_s(
    tl: Timeline, window: FaultWindow | None = None, threshold: float = 0.99
) -> dict[str, float | None]:
    """Per op of the timeline, seconds from `restored_at` to the start of the bucket in which
    the op is back for good.

    Only buckets that have requests of the op are judged (an empty bucket is neither good nor
    bad); a bucket is good when its availability >= threshold.

    - Recovered at bucket B: B is the first bucket starting at or after restored_at that is
      good AND every later judged bucket is good too. A single lucky second followed by a bad
      one does not count as recovered: recovery is the start of the last unbroken run of good
      buckets that reaches the end of the log. The figure is therefore a multiple of the
      bucket grid, >= 0, and rounded up to the first whole bucket after the restore.
    - 0.0 when the op never dropped: every judged bucket from the first bucket of the fault
      (second 0) to the end is good, even after the restore. An op that dropped only during
      the fault and is good from the first whole bucket after the restore gets that bucket's
      distance from the restore instead (in [0, bucket_s)).
    - None when it never recovered: the last judged bucket is bad, or the op has no request
      at all in a bucket starting at or after restored_at (no evidence either way).

    `window` defaults to the timeline's own.
    """
    window = window or tl.window
    restored = window.restored_at - window.injected_at  # relative, like the rows' seconds
    out: dict[str, float | None] = {}
    for op in tl.ops:
        judged = [row for row in tl.of(op) if row.requests > 0 and row.second >= 0]
        after = [row for row in judged if row.second >= restored - _EPSILON_S]
        if not after:
            out[op] = None
        elif all(_good(row, threshold) for row in judged):
            out[op] = 0.0
        else:
            out[op] = _recovered_at(after, threshold, restored)
    return out


# Epoch seconds carry ~0.2 µs of float error: a bucket starting within 1 µs of the restore
# starts at the restore.
_EPSILON_S = 1e-6


def _good(row: TimelineRow, threshold: float) -> bool:
    return row.availability is not None and row.availability >= threshold


def _recovered_at(after: list[TimelineRow], threshold: float, restored: float) -> float | None:
    recovered: TimelineRow | None = None
    for row in after:
        if not _good(row, threshold):
            recovered = None
        elif recovered is None:
            recovered = row
    if recovered is None:
        return None
    return max(0.0, round(recovered.second - restored, 6))


# --- 4. Catch-up ------------------------------------------------------------------------------


class CatchUpDict(TypedDict):
    min_age_s: float
    refused: int
    posts: int
    last_refusal_after_restore_s: float | None
    longest_ack_to_refusal_s: float | None
    refused_young: int
    refused_unknown_post: int


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Comments refused because the comments service had not yet heard of a post that was
    acknowledged well before (async: its copy of known posts lags behind the posts service,
    e.g. while its consumer catches up on the events of the outage).

    - refused: CreateComment records with status NOT_FOUND whose post_id is the `id` of an
      acknowledged CreatePost (status OK) of the log, where the post's acknowledgement (the
      end of its first OK CreatePost record) came at least `min_age_s` before the refusal
      (the end of the CreateComment record);
    - posts: distinct posts with at least one such refusal;
    - last_refusal_after_restore_s: the latest such refusal minus restored_at (negative when
      every one came during the fault); None when there is none;
    - longest_ack_to_refusal_s: the longest time from a post's acknowledgement to the refusal
      of a comment on it, over the counted refusals; None when there is none;
    - refused_young: NOT_FOUND on an acknowledged post less than `min_age_s` after its
      acknowledgement (ordinary propagation lag, not counted above);
    - refused_unknown_post: NOT_FOUND on a post no CreatePost of the log acknowledged (e.g. a
      seeded post: a different defect, not catch-up).
    """

    min_age_s: float
    refused: int
    posts: int
    last_refusal_after_restore_s: float | None
    longest_ack_to_refusal_s: float | None
    refused_young: int
    refused_unknown_post: int

    def to_dict(self) -> CatchUpDict:
        return CatchUpDict(
            min_age_s=self.min_age_s,
            refused=self.refused,
            posts=self.posts,
            last_refusal_after_restore_s=self.last_refusal_after_restore_s,
            longest_ack_to_refusal_s=self.longest_ack_to_refusal_s,
            refused_young=self.refused_young,
            refused_unknown_post=self.refused_unknown_post,
        )


def catch_up(
    records: Iterable[RequestRecord], window: FaultWindow, min_age_s: float = 1.0
) -> CatchUp:
    """How long after the restore comments keep being refused for posts acknowledged at
    least `min_age_s` earlier (see `CatchUp` for each figure's definition)."""
    records = list(records)
    acked: dict[str, float] = {}
    for r in records:
        if r.op == "CreatePost" and r.ok and r.id:
            acked[r.id] = min(r.end, acked.get(r.id, math.inf))
    refused_ends: list[float] = []
    ages: list[float] = []
    posts: set[str] = set()
    young = unknown = 0
    for r in records:
        if r.op != "CreateComment" or r.status != "NOT_FOUND":
            continue
        ack = acked.get(r.post_id)
        if ack is None:
            unknown += 1
        elif r.end - ack >= min_age_s:
            refused_ends.append(r.end)
            ages.append(r.end - ack)
            posts.add(r.post_id)
        else:
            young += 1
    return CatchUp(
        min_age_s=min_age_s,
        refused=len(refused_ends),
        posts=len(posts),
        last_refusal_after_restore_s=(
            max(refused_ends) - window.restored_at if refused_ends else None
        ),
        longest_ack_to_refusal_s=max(ages) if ages else None,
        refused_young=young,
        refused_unknown_post=unknown,
    )
