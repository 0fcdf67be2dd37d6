"""HDR histograms (microseconds, 3 significant digits) as the lab records and merges them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NotRequired, TypedDict

from hdrh.histogram import HdrHistogram

from blog.rpc.metrics import HIST_DIGITS, HIST_HIGHEST_US, HIST_LOWEST_US, new_histogram

# A summary in milliseconds; an empty histogram has its count only. ("p99.9_ms" is no Python
# name, hence the functional syntax.)
LatencySummary = TypedDict(
    "LatencySummary",
    {
        "count": int,
        "min_ms": NotRequired[float],
        "mean_ms": NotRequired[float],
        "p50_ms": NotRequired[float],
        "p90_ms": NotRequired[float],
        "p99_ms": NotRequired[float],
        "p99.9_ms": NotRequired[float],
        "max_ms": NotRequired[float],
    },
)


def record(hist: HdrHistogram, value_us: float) -> None:
    hist.record_value(min(max(int(value_us), HIST_LOWEST_US), HIST_HIGHEST_US))


def merge(encoded: Iterable[bytes | str]) -> HdrHistogram:
    """One histogram holding every value of the encoded ones (e.g. one per Locust worker)."""
    total = new_histogram()
    for item in encoded:
        total.add(HdrHistogram.decode(item.encode() if isinstance(item, str) else item))
    return total


def summary(hist: HdrHistogram) -> LatencySummary:
    """count, min, mean, max and the lab's percentiles (50, 90, 99, 99.9), in milliseconds."""
    count = hist.get_total_count()
    if count == 0:
        return {"count": count}
    return {
        "count": count,
        "min_ms": hist.get_min_value() / 1000,
        "mean_ms": hist.get_mean_value() / 1000,
        "p50_ms": hist.get_value_at_percentile(50.0) / 1000,
        "p90_ms": hist.get_value_at_percentile(90.0) / 1000,
        "p99_ms": hist.get_value_at_percentile(99.0) / 1000,
        "p99.9_ms": hist.get_value_at_percentile(99.9) / 1000,
        "max_ms": hist.get_max_value() / 1000,
    }


def count_at_or_below(hist: HdrHistogram, value_us: float) -> int:
    """How many recorded values are at most `value_us` (to the histogram's precision)."""
    counted = 0
    for item in hist.get_recorded_iterator():
        if item.value_iterated_to > value_us:
            break
        counted += item.count_at_value_iterated_to
    return counted


__all__ = [
    "HIST_DIGITS",
    "LatencySummary",
    "count_at_or_below",
    "new_histogram",
    "record",
    "merge",
    "summary",
]
