"""The capacity grid chosen from the pilot (benchmarks/suite/sweep.py): a retried rate counts by
its last try, and the grid spans half the highest rate met to 1.2 times the first missed."""

from __future__ import annotations

from benchmarks.suite.aggregate import point
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.results import SweepStep
from benchmarks.suite.sweep import flags, grid, pilot_meets, queue_grew


def step(
    rate: float,
    meets: bool,
    valid: bool = True,
    halves: tuple[float | None, float | None] = (None, None),
) -> SweepStep:
    return {
        "phase": "pilot",
        "offered_rate": rate,
        "achieved_rate": rate,
        "p99_ms": 10.0 if meets else 80.0,
        "halves_p99_ms": list(halves),
        "error_rate": 0.0,
        "goodput_rate": rate,
        "generator_lag_p99_ms": 1.0,
        "generator_saturated": False,
        "steal_percent": 0.0,
        "meets_slo": meets,
        "growing": False,
        "valid": valid,
        "flags": [] if valid else ["not stationary: p99 60 ms then 13 ms"],
    }


def judged(
    p99s: tuple[float, float], p50s: tuple[float, float] | None = None
) -> tuple[list[str], bool]:
    run = {
        "generator_overflow": 0,
        "generator_lag_ms": {"p99_ms": 2.0},
        "generator_behind": False,
        "arrivals": 300,
        "requests": 300,
        "halves_p99_ms": list(p99s),
    }
    if p50s is not None:
        run["halves_p50_ms"] = list(p50s)
    return flags(run)  # type: ignore[arg-type]


def test_grid_spans_half_the_highest_met_to_1_2_times_the_first_missed() -> None:
    rates = grid([step(100, True), step(200, True), step(400, False)], PROFILES["full"])
    assert rates == [100, 140, 180, 230, 270, 310, 350, 400, 440, 480]  # 100 + 380 i / 9, to 10s


def test_a_retried_pilot_rate_counts_by_its_last_try() -> None:
    # The cold start's invalid miss at 100/s was run again and met: not a miss at 100/s.
    pilot = [step(100, False, valid=False), step(100, True), step(200, True), step(400, False)]
    assert grid(pilot, PROFILES["full"]) == grid(pilot[1:], PROFILES["full"])
    # Without the retry, the same invalid miss would have put the grid far below capacity.
    assert max(grid(pilot[:1], PROFILES["full"])) == 120


def test_a_cold_start_that_passed_is_flagged_not_stationary() -> None:
    why, growing = judged((60.0, 13.0))
    assert why == ["not stationary: p99 60 ms then 13 ms"] and not growing


def test_the_pilot_judges_an_invalid_step_by_its_better_half() -> None:
    # Seen at 200/s on a bare chain: a transient in the first half, the rest well within.
    transient = step(200, False, valid=False, halves=(81.0, 16.0))
    assert pilot_meets(transient)
    assert not pilot_meets(step(200, False, valid=False, halves=(81.0, 70.0)))
    assert not pilot_meets(step(200, False))  # a valid miss is a miss
    pilot = [step(100, True), transient, step(400, False)]
    assert grid(pilot, PROFILES["full"]) == grid(
        [pilot[0], step(200, True), pilot[2]], PROFILES["full"]
    )


def test_a_transient_on_top_of_a_miss_is_a_miss_counted_by_its_second_half() -> None:
    # Seen at 350/s on async: 1,508 ms then 344 ms. Both halves miss the SLO, so the rate's
    # verdict is known (a miss); its point on the curve is the second half's level.
    why, growing = judged((1508.0, 344.0))
    assert why == [] and not growing
    missed = {**step(350, False, halves=(1508.0, 344.0)), "p99_ms": 1290.0}
    assert point(missed).p99_ms == 344.0  # type: ignore[arg-type]
    # Halves that agree, or a queue that grew, keep their own rules.
    assert point({**missed, "halves_p99_ms": [400.0, 300.0]}).p99_ms == 1290.0  # type: ignore[arg-type]
    grew = {**missed, "halves_p99_ms": [60.0, 900.0], "growing": True}
    assert point(grew).p99_ms == 1290.0  # type: ignore[arg-type]


def test_a_tail_that_grew_alone_is_a_stall_not_a_queue() -> None:
    # Seen at 100/s on sync (capacity ~225/s): p99 23 ms then 85 ms, the medians 9.0 and 8.8 ms.
    # A pause reached the requests in flight then; the bulk did not wait longer.
    why, growing = judged((23.0, 85.0), (9.0, 8.8))
    assert why == ["a stall in the second half: p99 23 ms then 85 ms"] and not growing
    # Past capacity the queue delays every request: the median rises with the tail.
    assert judged((40.0, 900.0), (12.0, 300.0)) == ([], True)
    # Both halves over the SLO: a miss either way (not growing, not invalid).
    assert judged((60.0, 400.0), (12.0, 12.5)) == ([], False)
    # A run recorded before the medians: the rule it was judged by (a queue).
    assert judged((23.0, 85.0), None) == ([], True)


def test_the_queue_rule_reads_the_medians_rise() -> None:
    assert queue_grew([10.0, 12.0]) and queue_grew([10.0, 30.0])
    assert not queue_grew([10.0, 11.9]) and not queue_grew([10.0, 9.0])
    assert queue_grew(None) and queue_grew([None, 10.0])  # unknown: as before


def test_the_pilot_judges_a_stall_in_the_second_half_by_the_first() -> None:
    stalled = step(100, False, valid=False, halves=(16.0, 85.0))
    assert pilot_meets(stalled)
    assert not pilot_meets(step(100, False, valid=False, halves=(70.0, 85.0)))
