"""Several runs side by side (benchmarks/suite/repeatability.py): how far apart their medians
are, and how many repetitions a median within +-10 % would take, on known data."""

from __future__ import annotations

import random

import pytest

from benchmarks.suite.repeatability import repetitions_needed, spread


def test_spread_is_max_minus_min_over_min() -> None:
    assert spread([300.0, 330.0, 310.0]) == pytest.approx(0.10)
    assert spread([300.0]) is None  # one run: no spread


def test_identical_repetitions_need_one() -> None:
    needed = repetitions_needed([300.0] * 6, random.Random(1), tried=(1, 3))
    assert needed == {1: 0.0, 3: 0.0}


def test_more_repetitions_narrow_the_median() -> None:
    # Crossings 200-400 (a spread like the old bisection's): one repetition's median can land
    # anywhere in it; twelve narrow it, and never widen it.
    crossings = [200.0, 250.0, 300.0, 300.0, 350.0, 400.0]
    needed = repetitions_needed(crossings, random.Random(1), tried=(1, 3, 5, 12))
    assert needed[1] == pytest.approx((400 - 200) / 2 / 300)
    assert needed[1] >= needed[3] >= needed[5] >= needed[12]
    assert 0 < needed[12] < needed[1]
