"""The one rule every verdict of the report follows (docs/METHOD.md, Noise): two figures differ
only when their ranges do not overlap. A range is a figure's spread over repetitions
(median [min-max]) or a capacity's 95 % confidence interval; otherwise the verdict is "~", no
significant difference, and with a single repetition (a range of one value) "n/a", never a
difference. Every finding, table mark and verdict line calls `judge` (or `group_clear`, the same
rule between two groups of sides); a test checks that no finding contradicts the table it points
at (tests/unit/test_report_findings.py; the rule's own cases: tests/unit/test_report_verdict.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NO_DIFFERENCE = "~"
NOT_ENOUGH = "n/a"


@dataclass(frozen=True, slots=True)
class Range:
    """A figure with its range: value (median or estimate), low and high, and how many
    repetitions it rests on (None for a confidence interval, which says so itself)."""

    value: float
    low: float
    high: float
    repetitions: int | None = None

    @property
    def judgeable(self) -> bool:
        return self.repetitions is None or self.repetitions >= 2

    @classmethod
    def of_spread(cls, spread: Mapping[str, Any] | None) -> Range | None:
        """From a Spread (benchmarks/suite/stats.py)."""
        if not spread:
            return None
        return cls(
            float(spread["median"]),
            float(spread["min"]),
            float(spread["max"]),
            int(spread.get("n", 1)),
        )

    @classmethod
    def of_interval(cls, interval: Mapping[str, Any] | None) -> Range | None:
        """From an Interval (benchmarks/suite/capacity_fit.py); a bound is not a range."""
        if not interval or interval.get("kind") != "estimate":
            return None
        if interval.get("low") is None or interval.get("high") is None:
            return None
        return cls(float(interval["value"]), float(interval["low"]), float(interval["high"]))


def judge(ranges: Mapping[str, Range | None], higher_is_better: bool = False) -> str:
    """The best side's name when its range is clear of every other side's, "~" when any other
    side's range overlaps it, "n/a" when a side has no range or too few repetitions."""
    present = {name: r for name, r in ranges.items() if r is not None}
    if len(present) < 2 or len(present) < len(ranges):
        return NOT_ENOUGH
    if not all(r.judgeable for r in present.values()):
        return NOT_ENOUGH
    best = (max if higher_is_better else min)(present, key=lambda n: present[n].value)
    mine = present[best]
    for name, other in present.items():
        if name == best:
            continue
        clear = mine.low > other.high if higher_is_better else mine.high < other.low
        if not clear:
            return NO_DIFFERENCE
    return best


def group_clear(low: Sequence[Range], high: Sequence[Range]) -> bool:
    """The same rule for two groups of sides: every range of `low` below every range of
    `high`, all of at least two repetitions (e.g. the data's owners against the read models)."""
    ranges = [*low, *high]
    if not low or not high or not all(r.judgeable for r in ranges):
        return False
    return max(r.high for r in low) < min(r.low for r in high)


def ratio(a: Range | None, b: Range | None) -> float | None:
    """b's value over a's (how many times a's)."""
    if a is None or b is None or not a.value:
        return None
    return b.value / a.value
