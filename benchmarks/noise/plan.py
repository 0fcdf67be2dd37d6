"""What the noise study runs, and in which order, decided before anything runs (pure): the
pilot's reading of the rate where the p99 crosses the SLO, and the interleaved blocks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.noise.variants import Variant
from benchmarks.suite.profiles import SLO_ERROR_RATE, SLO_P99_MS


@dataclass(frozen=True)
class PilotStep:
    offered_rate: float
    achieved_rate: float
    p99_ms: float | None
    error_rate: float

    @property
    def meets_slo(self) -> bool:
        return (
            self.p99_ms is not None
            and self.p99_ms <= SLO_P99_MS
            and self.error_rate <= SLO_ERROR_RATE
        )


@dataclass(frozen=True)
class Pilot:
    """A short ladder of rates on a fresh baseline stack, up to the first that misses the SLO."""

    steps: list[PilotStep]
    slo_rate: float  # where the p99 reaches the SLO (see slo_crossing)
    note: str
    rate: float  # the study's offered rate: a share of slo_rate


def slo_crossing(steps: Sequence[PilotStep]) -> tuple[float, str]:
    """The offered rate at which the p99 reaches the SLO: between the last rate that met it and
    the first that missed, where log(p99) linearly in the rate reaches the SLO (near saturation
    the p99 grows much faster than linearly). Without a miss, the highest rate (a lower bound);
    when the first rate missed, that rate (an upper bound)."""
    if not steps:
        raise ValueError("a pilot without steps")
    missed = next((s for s in steps if not s.meets_slo), None)
    if missed is None:
        return max(s.offered_rate for s in steps), "never missed the SLO: a lower bound"
    met = [s for s in steps if s.meets_slo and s.offered_rate < missed.offered_rate]
    if not met:
        return missed.offered_rate, "the first rate missed the SLO: an upper bound"
    low = max(met, key=lambda s: s.offered_rate)
    assert low.p99_ms is not None
    if missed.p99_ms is None or missed.p99_ms <= low.p99_ms or missed.p99_ms <= SLO_P99_MS:
        return low.offered_rate, "missed by errors, not p99: the last rate met"
    share = (math.log(SLO_P99_MS) - math.log(low.p99_ms)) / (
        math.log(missed.p99_ms) - math.log(low.p99_ms)
    )
    rate = low.offered_rate + share * (missed.offered_rate - low.offered_rate)
    return rate, f"between {low.offered_rate:g} (met) and {missed.offered_rate:g} (missed)"


@dataclass(frozen=True)
class Block:
    """One fresh stack of one implementation, set up as one variant, running `steps` runs."""

    index: int  # the round it belongs to
    variant: Variant
    impl: str


def blocks(variants: Sequence[Variant], impls: Sequence[str], rounds: int) -> list[Block]:
    """Every variant and implementation once per round, interleaved: each round starts one
    variant later than the round before (a rotation, so no variant always runs first or after
    the same one), and the implementations alternate order (A B, B A) from one variant to the
    next. A variant runs only with the implementations it applies to."""
    out: list[Block] = []
    for r in range(rounds):
        shift = r % len(variants) if variants else 0
        rotated = [*variants[shift:], *variants[:shift]]
        for i, variant in enumerate(rotated):
            order = list(impls) if (r + i) % 2 == 0 else list(reversed(impls))
            out += [Block(r, variant, impl) for impl in order if impl in variant.impls]
    return out


def rounds_for(repeat: int, steps_per_stack: int) -> int:
    """Rounds of blocks that give at least `repeat` runs per variant and implementation."""
    return max(1, math.ceil(repeat / max(1, steps_per_stack)))
