"""What the figures of a chaos experiment share: how they count, the order they list operations
in, and the percentile they use. The figures, each computed from the request log and the fault
window: lab/chaos/timeline.py (per second), lab/chaos/phases.py (availability and p99 before,
during and after the fault), lab/chaos/recovery.py (time to recover), lab/chaos/catchup.py
(comments refused while the comments service catches up).

Pure functions of `RequestRecord`s (lab/chaos/records.py) and one `FaultWindow`; the only I/O is
`write_timeline_csv`. Every time is bucketed or phased by the request's SCHEDULED start (open
loop: a request due during the fault belongs to the fault even if it was sent or answered later),
and every latency runs from the scheduled start to the end (docs/METHOD.md, Latency).

Percentiles here are exact nearest-rank over the successful requests of a bucket or phase (the
value at rank ceil(p/100 * n) of the sorted latencies), not HDR histograms: a second holds few
requests, and an exact value makes the figures testable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from lab.chaos.records import RequestRecord

# The public operations in the order figures list them; any other op seen follows, sorted.
OPERATIONS = (
    "CreatePost",
    "GetPost",
    "CreateComment",
    "ListComments",
    "GetPostView",
    "ListPostViews",
)


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
