"""Figures over repetitions (docs/METHOD.md, Noise): each published figure is the median of its
repetitions with their minimum and maximum beside it, and a sync-vs-async difference is called
one only when the two ranges do not overlap (asv's rule: "~" otherwise).

Pure functions on plain numbers: the suite feeds them what each repetition measured."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import median
from typing import TypedDict

# How a comparison of two sides' repetitions reads (lower is better for every figure compared):
# the better side's name, "~" (no significant difference) or "n/a" (too few repetitions).
Verdict = str
MIN_REPETITIONS = 2  # below this a spread cannot be seen, so no difference can be claimed


class Spread(TypedDict):
    """One figure over repetitions: the median, the range, and every value (in run order)."""

    median: float
    min: float
    max: float
    n: int
    values: list[float]


class Comparison(TypedDict):
    """A figure of two implementations: which is better, if the spread allows saying so."""

    sides: dict[str, Spread]  # the first and the second implementation, by name
    ratio: float | None  # second median / first median
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


def verdict(
    a: Spread,
    b: Spread,
    higher_is_better: bool = False,
    names: tuple[str, str] = ("sync", "async"),
) -> Verdict:
    """The better side's name when the two ranges are disjoint; "~" when they overlap."""
    if a["n"] < MIN_REPETITIONS or b["n"] < MIN_REPETITIONS:
        return "n/a"
    if a["max"] < b["min"]:
        return names[1] if higher_is_better else names[0]
    if b["max"] < a["min"]:
        return names[0] if higher_is_better else names[1]
    return "~"


def compare(
    a: Spread,
    b: Spread,
    higher_is_better: bool = False,
    names: tuple[str, str] = ("sync", "async"),
) -> Comparison:
    """Latency-like figures by default (lower is better)."""
    return {
        "sides": {names[0]: a, names[1]: b},
        "ratio": b["median"] / a["median"] if a["median"] else None,
        "verdict": verdict(a, b, higher_is_better, names),
    }


def ratios(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> Spread | None:
    """The spread of per-repetition ratios (each repetition's figure over its own floor, so
    drift between repetitions cancels), skipping repetitions that lack either side."""
    return spread(
        n / d for n, d in zip(numerators, denominators, strict=True) if n is not None and d
    )
