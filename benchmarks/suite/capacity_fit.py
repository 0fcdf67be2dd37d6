"""Capacity from a load curve (docs/METHOD.md, Capacity): every step of a fixed grid of offered
rates, run in random order and repeated, is a point; a monotone curve of p99 against the offered
rate is fitted to all of them, and the capacity is the rate at which the fitted p99 crosses the
SLO, with a bootstrap confidence interval. Beside it the knee (where p99 has doubled from its
low-load level) and the maximum sustained goodput (the plateau: the most stable figure a load
test has). Pure functions of the steps; the sweep that runs them is benchmarks/suite/sweep.py.

Why a fit over every point, not a bisection on one step's pass/fail: near saturation p99 grows
roughly as 1/(1-rho)^2, so one step's p99 swings by several times from run to run, and a
bisection locks in whichever verdict came first. An isotonic (monotone) fit assumes only that
more load never makes p99 better; it pools the noise of every step and does not extrapolate.
The CI is a bootstrap, as Maricq et al. (OSDI '18) recommend for performance figures:
non-parametric, from the repetitions actually run. With steps from two stacks or more it is a
two-stage (cluster) bootstrap: the stacks (one per repetition) are drawn with replacement, then
each drawn stack's steps at each rate. A stack has its own tail (docs/METHOD.md, Does it
repeat?: runs of one commit whose step-level CIs of +-3 % excluded each other's medians), so
its steps are not independent draws, and a CI that resamples steps alone says how well one
run's stacks were measured, not the system. With one stack, its steps at each rate are drawn
again (a stratified bootstrap: the grid stays fixed, the noise at each rate varies).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Literal, TypedDict

# A step that broke the error SLO, or whose p99 was beyond this many times the SLO, counts as
# this far beyond it: the fit needs a finite value, and anything past it is "saturated" alike.
SATURATED_FACTOR = 100.0
BOOTSTRAP_REPLICATES = 2000
CONFIDENCE = 0.95
KNEE_FACTOR = 2.0  # the knee: where the fitted p99 has doubled from its value at the lowest rate

Kind = Literal["estimate", "lower_bound", "upper_bound", "none"]


@dataclass(frozen=True, slots=True)
class Point:
    """One valid step of a capacity sweep."""

    rate: float  # offered requests/s
    p99_ms: float | None  # every operation together, from the scheduled start
    error_rate: float
    goodput: float  # requests/s answered successfully within the SLO
    stack: int = 0  # the stack (repetition) it ran on: the bootstrap's cluster


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where a fitted curve crosses a level: `kind` estimate (between two grid rates), or a
    bound when it never crosses within the grid (lower_bound: it is higher than the grid's top
    rate; upper_bound: already crossed at the lowest rate), or none without points."""

    rate: float | None
    kind: Kind


def level(point: Point, slo_p99_ms: float, slo_error_rate: float) -> float:
    """The value fitted: log10 of the p99 (capped), and a saturated value for a step that broke
    the error SLO (its p99, over the requests that succeeded, would flatter it)."""
    cap = slo_p99_ms * SATURATED_FACTOR
    if point.p99_ms is None or point.error_rate > slo_error_rate:
        return math.log10(cap)
    return math.log10(min(max(point.p99_ms, 1e-3), cap))


def isotonic(ys: Sequence[float], weights: Sequence[float]) -> list[float]:
    """The non-decreasing sequence closest to `ys` in weighted least squares (pool adjacent
    violators). `ys` are in order of increasing x."""
    blocks: list[list[float]] = []  # [value, weight, count]
    for y, w in zip(ys, weights, strict=True):
        blocks.append([y, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    fitted: list[float] = []
    for value, _, count in blocks:
        fitted += [value] * int(count)
    return fitted


def fit(
    points: Sequence[Point], slo_p99_ms: float, slo_error_rate: float
) -> tuple[list[float], list[float]]:
    """The grid's rates (ascending) and the fitted level at each: the mean level of its steps,
    made non-decreasing in the rate, weighted by how many steps each rate has."""
    by_rate: dict[float, list[float]] = {}
    for p in points:
        by_rate.setdefault(p.rate, []).append(level(p, slo_p99_ms, slo_error_rate))
    rates = sorted(by_rate)
    means = [sum(by_rate[r]) / len(by_rate[r]) for r in rates]
    return rates, isotonic(means, [len(by_rate[r]) for r in rates])


def crossing(rates: Sequence[float], fitted: Sequence[float], at: float) -> Crossing:
    """The rate where the fitted level first reaches `at`, interpolated linearly between the
    two grid rates around it."""
    if not rates:
        return Crossing(None, "none")
    if fitted[0] >= at:
        return Crossing(rates[0], "upper_bound")
    for i in range(1, len(rates)):
        if fitted[i] >= at:
            x0, x1, y0, y1 = rates[i - 1], rates[i], fitted[i - 1], fitted[i]
            return Crossing(x0 + (x1 - x0) * (at - y0) / (y1 - y0), "estimate")
    return Crossing(rates[-1], "lower_bound")


def capacity(points: Sequence[Point], slo_p99_ms: float, slo_error_rate: float) -> Crossing:
    rates, fitted = fit(points, slo_p99_ms, slo_error_rate)
    return crossing(rates, fitted, math.log10(slo_p99_ms))


def knee(points: Sequence[Point], slo_p99_ms: float, slo_error_rate: float) -> Crossing:
    rates, fitted = fit(points, slo_p99_ms, slo_error_rate)
    if not rates:
        return Crossing(None, "none")
    return crossing(rates, fitted, fitted[0] + math.log10(KNEE_FACTOR))


def plateau(points: Sequence[Point]) -> float | None:
    """The maximum sustained goodput: the highest median goodput of any rate of the grid."""
    by_rate: dict[float, list[float]] = {}
    for p in points:
        by_rate.setdefault(p.rate, []).append(p.goodput)
    return max((median(g) for g in by_rate.values()), default=None)


class Interval(TypedDict):
    """A figure with its bootstrap confidence interval."""

    value: float | None
    kind: Kind
    low: float | None
    high: float | None
    confidence: float
    replicates: int


def resample(points: Sequence[Point], rng: random.Random) -> list[Point]:
    """One bootstrap replicate (see the module docstring): as many stacks as there are, drawn
    with replacement, each drawn stack's steps drawn again within each rate; with one stack,
    its steps within each rate."""
    by_stack = _by_stack(points)
    if len(by_stack) < 2:
        return _within_rates(points, rng)
    stacks = list(by_stack)
    return [p for _ in stacks for p in _within_rates(by_stack[rng.choice(stacks)], rng)]


def resample_paired(
    a: Sequence[Point], b: Sequence[Point], rng: random.Random
) -> tuple[list[Point], list[Point]]:
    """One bootstrap replicate of two sides measured in the same repetitions (the
    implementations interleaved in each): the same stacks drawn for both, each side's steps
    then drawn within each rate, so that what a repetition shares (the machine's state that
    hour) cancels in a ratio. Sides whose stacks differ, or of one stack, are resampled apart."""
    by_a, by_b = _by_stack(a), _by_stack(b)
    stacks = sorted(by_a)
    if stacks != sorted(by_b) or len(stacks) < 2:
        return resample(a, rng), resample(b, rng)
    drawn = [rng.choice(stacks) for _ in stacks]
    return (
        [p for s in drawn for p in _within_rates(by_a[s], rng)],
        [p for s in drawn for p in _within_rates(by_b[s], rng)],
    )


def _by_stack(points: Sequence[Point]) -> dict[int, list[Point]]:
    """The points of each stack, stacks in the order first seen."""
    by_stack: dict[int, list[Point]] = {}
    for p in points:
        by_stack.setdefault(p.stack, []).append(p)
    return by_stack


def _within_rates(points: Sequence[Point], rng: random.Random) -> list[Point]:
    """The same rates, each rate's steps drawn again with replacement (stratified)."""
    by_rate: dict[float, list[Point]] = {}
    for p in points:
        by_rate.setdefault(p.rate, []).append(p)
    return [rng.choice(ps) for ps in by_rate.values() for _ in ps]


def bootstrap(
    points: Sequence[Point],
    figure: Callable[[Sequence[Point]], float | None],
    rng: random.Random,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> tuple[float | None, float | None]:
    """The central CONFIDENCE interval of `figure` over resampled step sets."""
    values = sorted(
        v for _ in range(replicates) if (v := figure(resample(points, rng))) is not None
    )
    if not values:
        return None, None
    tail = (1 - CONFIDENCE) / 2
    return values[int(tail * (len(values) - 1))], values[math.ceil((1 - tail) * (len(values) - 1))]


def interval(
    points: Sequence[Point],
    figure: Callable[[Sequence[Point]], Crossing],
    rng: random.Random,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> Interval:
    """A crossing figure with its CI (a replicate that ends in a bound counts as that bound)."""
    point = figure(points)
    low, high = bootstrap(points, lambda ps: figure(ps).rate, rng, replicates)
    return Interval(
        value=point.rate,
        kind=point.kind,
        low=low,
        high=high,
        confidence=CONFIDENCE,
        replicates=replicates,
    )


def half_width(i: Interval) -> float | None:
    """The CI's half-width as a share of the figure (the suite's goal: at most 10 %)."""
    if i["value"] is None or i["low"] is None or i["high"] is None or not i["value"]:
        return None
    return (i["high"] - i["low"]) / 2 / i["value"]


def ratio_interval(
    a: Sequence[Point],
    b: Sequence[Point],
    figure: Callable[[Sequence[Point]], Crossing],
    rng: random.Random,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> Interval:
    """figure(b) / figure(a) with its CI, both sides resampled in each replicate, paired by
    repetition when both have the same stacks (resample_paired)."""
    fa, fb = figure(a), figure(b)
    values = []
    for _ in range(replicates):
        sa, sb = resample_paired(a, b, rng)
        ra, rb = figure(sa).rate, figure(sb).rate
        if ra and rb is not None:
            values.append(rb / ra)
    values.sort()
    tail = (1 - CONFIDENCE) / 2
    kind: Kind = "estimate" if fa.kind == fb.kind == "estimate" else "none"
    return Interval(
        value=fb.rate / fa.rate if fa.rate and fb.rate is not None else None,
        kind=kind,
        low=values[int(tail * (len(values) - 1))] if values else None,
        high=values[math.ceil((1 - tail) * (len(values) - 1))] if values else None,
        confidence=CONFIDENCE,
        replicates=replicates,
    )
