"""HDR histograms (microseconds, 3 significant digits) as the lab records and merges them."""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from lab.rpc.metrics import HIST_DIGITS, HIST_HIGHEST_US, HIST_LOWEST_US, new_histogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def record(hist: HdrHistogram, value_us: float) -> None:
    hist.record_value(min(max(int(value_us), HIST_LOWEST_US), HIST_HIGHEST_US))


def merge(encoded: Iterable[bytes | str]) -> HdrHistogram:
    """One histogram holding every value of the encoded ones (e.g. one per Locust worker)."""
    total = new_histogram()
    for item in encoded:
        total.add(HdrHistogram.decode(item.encode() if isinstance(item, str) else item))
    return total


def summary(hist: HdrHistogram) -> dict[str, float | int]:
    """count, min, mean, max and the lab's percentiles, in milliseconds."""
    count = hist.get_total_count()
    out: dict[str, float | int] = {"count": count}
    if count == 0:
        return out
    out["min_ms"] = hist.get_min_value() / 1000
    out["mean_ms"] = hist.get_mean_value() / 1000
    for p in PERCENTILES:
        out[f"p{p:g}_ms"] = hist.get_value_at_percentile(p) / 1000
    out["max_ms"] = hist.get_max_value() / 1000
    return out


__all__ = ["HIST_DIGITS", "new_histogram", "record", "merge", "summary"]
