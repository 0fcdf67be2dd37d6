"""The capacity estimator on synthetic load curves with known crossing points (docs/METHOD.md,
Capacity): exact on noiseless curves, within a stated tolerance and inside its CI on noisy ones,
bounds when the curve does not cross within the grid."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from benchmarks.suite.capacity_fit import (
    Crossing,
    Point,
    capacity,
    crossing,
    half_width,
    interval,
    isotonic,
    knee,
    plateau,
    ratio_interval,
)

SLO, ERRORS = 50.0, 0.001


def mm1_p99_ms(rate: float, capacity_rate: float, service_ms: float = 5.0) -> float:
    """A queue's p99 rising as 1/(1-rho): the model of a load curve near saturation."""
    rho = rate / capacity_rate
    return service_ms / (1 - rho) if rho < 1 else math.inf


def grid(lo: float, hi: float, n: int) -> list[float]:
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def test_isotonic_pools_adjacent_violators() -> None:
    assert isotonic([1, 3, 2, 4], [1, 1, 1, 1]) == [1, 2.5, 2.5, 4]
    assert isotonic([5, 4, 3], [1, 1, 2]) == [3.75, 3.75, 3.75]
    assert isotonic([1, 2, 3], [1, 1, 1]) == [1, 2, 3]


def test_crossing_interpolates_between_grid_rates_and_gives_bounds_outside() -> None:
    assert crossing([100, 200], [0.0, 2.0], 1.0).rate == pytest.approx(150.0)
    assert crossing([100, 200], [0.0, 2.0], 1.0).kind == "estimate"
    assert crossing([100, 200], [0.0, 0.5], 1.0).kind == "lower_bound"
    assert crossing([100, 200], [1.5, 2.0], 1.0).kind == "upper_bound"
    assert crossing([], [], 1.0).kind == "none"


def test_a_noiseless_curve_gives_the_exact_crossing() -> None:
    # p99 = 10 ms at 100/s rising linearly in log10 to 100 ms at 300/s: it crosses 50 ms at
    # log10(50) = 1.699, i.e. at 100 + 200 * 0.699 = 239.79/s.
    points = [Point(r, 10 ** (1 + (r - 100) / 200), 0.0, r) for r in (100, 150, 200, 250, 300)]
    got = capacity(points, SLO, ERRORS)
    assert got.kind == "estimate"
    assert got.rate == pytest.approx(100 + 200 * math.log10(5), rel=1e-9)
    # The knee: p99 doubled from its 10 ms at the lowest rate, log10(2) of the way: 160.2/s.
    assert knee(points, SLO, ERRORS).rate == pytest.approx(100 + 200 * math.log10(2), rel=1e-9)


def test_a_step_that_broke_the_error_slo_counts_as_saturated() -> None:
    points = [Point(100, 5.0, 0.0, 100), Point(200, 5.0, 0.0, 200), Point(300, 5.0, 0.02, 290)]
    got = capacity(points, SLO, ERRORS)
    assert got.kind == "estimate" and 200 < got.rate < 300


def test_noisy_repetitions_find_the_true_capacity_within_their_ci() -> None:
    """Three repetitions of a 10-rate grid on an M/M/1-like curve whose p99 crosses 50 ms at
    450/s, each step's p99 off by a random factor of up to 2 (the swings seen here): the fit
    lands within 5 % of 450, and its 95 % CI holds 450."""
    true_capacity = 500.0  # the queue's own limit; 5 ms / (1 - rho) = 50 ms at rho = 0.9
    crossing_rate = 0.9 * true_capacity
    rng = random.Random(4)
    points = [
        Point(r, mm1_p99_ms(r, true_capacity) * math.exp(rng.uniform(-0.7, 0.7)), 0.0, r)
        for _ in range(3)
        for r in grid(250, 600, 10)
    ]
    figure = interval(points, lambda ps: capacity(ps, SLO, ERRORS), random.Random(1), 500)
    assert figure["kind"] == "estimate"
    assert figure["value"] == pytest.approx(crossing_rate, rel=0.05)
    assert figure["low"] <= crossing_rate <= figure["high"]
    assert half_width(figure) is not None and half_width(figure) < 0.1


def test_a_curve_that_never_crosses_is_a_lower_bound() -> None:
    points = [Point(r, 5.0, 0.0, r) for r in (100, 200, 300)]
    assert capacity(points, SLO, ERRORS).kind == "lower_bound"
    assert capacity(points, SLO, ERRORS).rate == 300


def test_the_plateau_is_the_highest_median_goodput_of_any_rate() -> None:
    points = [
        Point(100, 5, 0, 100),
        Point(200, 5, 0, 198),
        Point(200, 5, 0, 200),
        Point(300, 90, 0, 240),
        Point(300, 90, 0, 260),
        Point(400, 900, 0, 230),
    ]
    assert plateau(points) == pytest.approx(250)


def test_the_ratio_of_two_capacities_has_its_own_ci() -> None:
    rng = random.Random(2)

    def curve(cap: float) -> list[Point]:
        return [
            Point(r, mm1_p99_ms(r, cap) * math.exp(rng.uniform(-0.3, 0.3)), 0.0, r)
            for _ in range(3)
            for r in grid(200, 700, 10)
        ]

    sync, asynchronous = curve(400), curve(600)
    ratio = ratio_interval(sync, asynchronous, lambda ps: capacity(ps, SLO, ERRORS), rng, 300)
    assert ratio["value"] == pytest.approx(1.5, rel=0.1)
    assert ratio["low"] > 1 and ratio["low"] <= ratio["value"] <= ratio["high"]


def test_stacks_that_differ_widen_the_ci_to_span_them() -> None:
    # Two stacks with a tail of their own (saturating at 300 and at 400/s), each step exactly on
    # its stack's curve. Steps resampled alone would give a CI around the pooled curve's
    # crossing; stacks resampled give one from one stack's crossing to the other's.
    def stack(saturation: float, index: int) -> list[Point]:
        return [Point(r, mm1_p99_ms(r, saturation), 0.0, r, index) for r in grid(100, 600, 11)]

    def at_slo(ps: Sequence[Point]) -> Crossing:
        return capacity(ps, SLO, ERRORS)

    one, other = at_slo(stack(300, 1)).rate, at_slo(stack(400, 2)).rate
    assert one is not None and other is not None and other > 1.2 * one
    ci = interval(stack(300, 1) + stack(400, 2), at_slo, random.Random(5), 400)
    assert (ci["low"], ci["high"]) == (pytest.approx(one), pytest.approx(other))
    # One stack: its steps within each rate are resampled (here one each: no spread).
    alone = interval(stack(300, 1), at_slo, random.Random(5), 50)
    assert alone["low"] == alone["high"] == alone["value"] == pytest.approx(one)


def test_a_ratio_of_sides_measured_in_the_same_repetitions_is_paired() -> None:
    # Each repetition's machine moves both sides alike: async saturates at 1.5x sync's rate in
    # either repetition (300 and 450/s, then 400 and 600/s), on grids 1.5x apart, so every
    # replicate that draws the same repetitions for both sides has a ratio of exactly 1.5.
    def stack(saturation: float, index: int, scale: float) -> list[Point]:
        rates = [scale * r for r in grid(100, 600, 11)]
        return [Point(r, mm1_p99_ms(r, saturation), 0.0, r, index) for r in rates]

    def at_slo(ps: Sequence[Point]) -> Crossing:
        return capacity(ps, SLO, ERRORS)

    sync = stack(300, 1, 1.0) + stack(400, 2, 1.0)
    paired = stack(450, 1, 1.5) + stack(600, 2, 1.5)
    ratio = ratio_interval(sync, paired, at_slo, random.Random(3), 300)
    assert (ratio["value"], ratio["low"], ratio["high"]) == pytest.approx((1.5, 1.5, 1.5))
    # The same steps labelled as other stacks are resampled apart: a replicate may set one
    # repetition's sync against the other's async (400 vs 450/s, 300 vs 600/s).
    unpaired = stack(450, 3, 1.5) + stack(600, 4, 1.5)
    apart = ratio_interval(sync, unpaired, at_slo, random.Random(3), 300)
    assert apart["low"] < 1.3 and apart["high"] > 1.7
