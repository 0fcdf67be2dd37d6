"""Figure 3 of a chaos experiment: per operation, how long after the restore it is back, at the
resolution of single requests (read off the request log, not whole-second buckets).

An operation is **back** at the first request, scheduled at or after the restore, that succeeds
and starts a whole window of WINDOW_S seconds in which every request of the operation succeeds
(at least MIN_WINDOW_REQUESTS of them: fewer say too little). Why a clean window, not the first
success: right after a restore single requests succeed between failures (a pool reconnecting, a
backlog draining), and one lucky answer is not a service that is back. Why not "never fails
again": a single stray failure long after the restore (a deadline under load) would move the
recovery by seconds; such later failures are counted instead (`failures_after`), so a relapse is
seen, not hidden. The figure's resolution is the gap between the operation's requests after the
restore (the generator's rate times the operation's share of the mix).

Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TypedDict

from lab.chaos.records import FaultWindow, RequestRecord

WINDOW_S = 1.0  # "back": a whole second in which every request of the operation succeeds
MIN_WINDOW_REQUESTS = 5


class RecoveryDict(TypedDict):
    seconds: float | None
    resolution_s: float | None
    failures_after: int
    window_s: float


@dataclass(frozen=True, slots=True)
class Recovery:
    """One operation's recovery after a fault."""

    seconds: float | None  # restore -> back; 0.0: never dropped; None: never back (or no data)
    resolution_s: float | None  # mean gap between its requests after the restore
    failures_after: int  # failed requests scheduled after it was back (a relapse shows here)
    window_s: float = WINDOW_S

    def to_dict(self) -> RecoveryDict:
        return RecoveryDict(**asdict(self))  # type: ignore[typeddict-item]


def recovery(
    records: Sequence[RequestRecord],
    window: FaultWindow,
    window_s: float = WINDOW_S,
    min_requests: int = MIN_WINDOW_REQUESTS,
) -> dict[str, Recovery]:
    """Per operation of `records` (ordered by scheduled start), its Recovery from `window`."""
    by_op: dict[str, list[RequestRecord]] = {}
    for record in records:
        by_op.setdefault(record.op, []).append(record)
    return {op: _recovery(rs, window, window_s, min_requests) for op, rs in by_op.items()}


def _recovery(
    records: list[RequestRecord], window: FaultWindow, window_s: float, min_requests: int
) -> Recovery:
    after = [r for r in records if r.scheduled >= window.restored_at]
    if not after:
        return Recovery(None, None, 0, window_s)
    resolution = (
        (after[-1].scheduled - after[0].scheduled) / (len(after) - 1) if len(after) > 1 else None
    )
    if all(r.ok for r in records if r.scheduled >= window.injected_at):
        return Recovery(0.0, resolution, 0, window_s)  # never dropped
    times = [r.scheduled for r in after]
    end = times[-1]  # the log says nothing past its last request
    next_failure = _next_failure(after)
    for i, record in enumerate(after):
        closes = record.scheduled + window_s
        if closes > end:
            break  # no whole window left to judge
        failure = next_failure[i]
        if failure is not None and times[failure] < closes:
            continue  # this request, or one in its window, failed
        if bisect.bisect_left(times, closes) - i < min_requests:
            continue
        failures = sum(not r.ok for r in after[i:])
        return Recovery(round(record.scheduled - window.restored_at, 6), resolution, failures)
    return Recovery(None, resolution, 0, window_s)


def _next_failure(records: list[RequestRecord]) -> list[int | None]:
    """For each index, the index of the first failed request at or after it (None: none)."""
    out: list[int | None] = [None] * len(records)
    upcoming: int | None = None
    for i in range(len(records) - 1, -1, -1):
        if not records[i].ok:
            upcoming = i
        out[i] = upcoming
    return out


def recovery_s(recoveries: dict[str, Recovery]) -> dict[str, float | None]:
    """Just the seconds of each operation (summary.json's `recovery_s`)."""
    return {op: r.seconds for op, r in recoveries.items()}
