"""Figures over repetitions (docs/METHOD.md, Noise): each published figure is the median of its
repetitions with their minimum and maximum beside it, and a sync-vs-async difference is called
one only when the two ranges do not overlap (asv's rule: "~" otherwise).

Pure functions on plain numbers: the suite feeds them what each repetition measured."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import median
from typing import Literal, TypedDict

# How a comparison of two sides' repetitions reads (lower is better for every figure compared).
Verdict = Literal["sync", "async", "~", "n/a"]
MIN_REPETITIONS = 2  # below this a spread cannot be seen, so no difference can be claimed


class Spread(TypedDict):
    """One figure over repetitions: the median, the range, and every value (in run order)."""

    median: float
    min: float
    max: float
    n: int
    values: list[float]


class Comparison(TypedDict):
    """A figure of both implementations: which is better, if the spread allows saying so."""

    sides: dict[str, Spread]  # "sync" and "async"
    ratio: float | None  # async median / sync median
    verdict: Verdict  # the better side, "~" within the spread, "n/a" too few repetitions


def spread(values: Iterable[float | None]) -> Spread | None:
    """The spread of the values that exist (a repetition may lack a figure); None if none does."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {
        "median": median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
        "values": present,
    }


def relative_range(s: Spread) -> float | None:
    """(max - min) / median: how far the repetitions moved, as a share of the figure."""
    return (s["max"] - s["min"]) / s["median"] if s["median"] else None


def verdict(sync: Spread, async_: Spread, higher_is_better: bool = False) -> Verdict:
    """The better side when the two ranges are disjoint; "~" when they overlap."""
    if sync["n"] < MIN_REPETITIONS or async_["n"] < MIN_REPETITIONS:
        return "n/a"
    if sync["max"] < async_["min"]:
        return "async" if higher_is_better else "sync"
    if async_["max"] < sync["min"]:
        return "sync" if higher_is_better else "async"
    return "~"


def compare(sync: Spread, async_: Spread, higher_is_better: bool = False) -> Comparison:
    """Latency-like figures by default (lower is better); capacity with higher_is_better."""
    return {
        "sides": {"sync": sync, "async": async_},
        "ratio": async_["median"] / sync["median"] if sync["median"] else None,
        "verdict": verdict(sync, async_, higher_is_better),
    }


def ratios(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> Spread | None:
    """The spread of per-repetition ratios (each repetition's figure over its own floor, so
    drift between repetitions cancels), skipping repetitions that lack either side."""
    return spread(
        n / d for n, d in zip(numerators, denominators, strict=True) if n is not None and d
    )


class CapacityFlags(TypedDict):
    """What makes a capacity figure unpublishable as it stands (docs/METHOD.md, Capacity)."""

    over_bare_chain: list[int]  # repetitions whose capacity exceeded its own bare chain's
    lower_bound: list[int]  # repetitions where no rate missed: capacity is at least this


def over_bare_chain(capacity: float | None, bare: float | None) -> bool:
    """A capacity above its own bare chain's: a measurement problem (the bare chain does
    strictly less work), never a finding."""
    return bool(capacity and bare and capacity > bare)


def share_of_bare_chain(capacity: float | None, bare: float | None) -> float | None:
    """The implementation's capacity as a share of its bare chain's, or None when either is
    missing or the capacity is over its bare chain's (never a share over 100 %)."""
    if not capacity or not bare or over_bare_chain(capacity, bare):
        return None
    return capacity / bare
