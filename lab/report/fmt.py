"""How the report writes numbers: one place, so a figure reads the same in a finding, a table
and a caption (and the same data always gives the same text)."""

from __future__ import annotations

from collections.abc import Mapping

from benchmarks.suite.stats import Spread

DASH = "–"  # the range inside a spread: median [min–max]


def num(x: float) -> str:
    """About three significant figures, without a trailing exponent."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2g}"


def ms(x: float | None) -> str:
    return "-" if x is None else f"{num(x)} ms"


def count(x: float) -> str:
    """A count (or a median of counts): whole numbers without decimals."""
    return f"{int(x):,}" if float(x).is_integer() else num(x)


def spread(s: Spread | Mapping[str, object] | None, unit: str = "", counts: bool = False) -> str:
    """median [min–max] unit; the single value when there is one repetition."""
    if not s:
        return "-"
    med, lo, hi = float(s["median"]), float(s["min"]), float(s["max"])  # type: ignore[arg-type]
    suffix = f" {unit}" if unit else ""
    show = count if counts else num
    if int(s.get("n", 2)) <= 1 or lo == hi:  # type: ignore[call-overload]
        return f"{show(med)}{suffix}"
    return f"{show(med)} [{show(lo)}{DASH}{show(hi)}]{suffix}"


def share(x: float | None) -> str:
    """A fraction as a percentage that never rounds a shortfall up to 100 % (99.6 % stays
    99.6 %: an operation that lost a request was not fully available)."""
    if x is None:
        return "-"
    if 0.99 <= x < 1:
        return f"{int(x * 1000) / 10:.1f} %"
    if 0 < x < 0.01:
        return f"{x * 100:.1f} %"
    return f"{x * 100:.0f} %"


def rate(x: float | None) -> str:
    return "-" if x is None else f"{x:g}/s"


def seconds(x: float | None) -> str:
    return "-" if x is None else f"{num(x)} s"


def ratio(x: float | None) -> str:
    return "-" if x is None else f"{num(x)}×"


def join(items: list[str], empty: str = "none") -> str:
    """a, b and c."""
    if not items:
        return empty
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def label_rate(label: str | None) -> str:
    """A measured run's label as words: `mixed@50` -> "mixed at 50 requests/s"."""
    if not label:
        return "-"
    scenario, _, rate = label.partition("@")
    if rate.startswith("closed"):
        return f"{scenario}, closed loop"
    return f"{scenario} at {rate} requests/s"
