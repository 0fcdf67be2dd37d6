"""Figure 3 of a chaos experiment: per operation, how long after the restore it is back for good
(read off the timeline, lab/chaos/timeline.py).

Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

from lab.chaos.records import FaultWindow
from lab.chaos.timeline import Timeline, TimelineRow


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
