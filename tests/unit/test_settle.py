"""The wait for an idle machine before a sweep step (benchmarks/suite/settle.py), on this
machine's real /proc/stat: it ends at the first idle window, or gives up at its limit."""

from __future__ import annotations

from benchmarks.suite.settle import settle


def test_a_window_under_the_threshold_ends_the_wait() -> None:
    settled = settle(idle_busy_percent=100.0, max_wait_s=5.0, window_s=0.05)
    assert settled["idle"] and settled["busy_percent"] is not None
    assert 0.05 <= settled["wait_s"] < 5.0  # one window: every share is <= 100 %


def test_a_machine_never_idle_enough_is_left_at_the_limit() -> None:
    # No share is below 0 %: the wait runs to its limit and says it did not see idle.
    settled = settle(idle_busy_percent=-1.0, max_wait_s=0.2, window_s=0.05)
    assert not settled["idle"]
    assert settled["wait_s"] >= 0.2
