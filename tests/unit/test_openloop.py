"""Open-loop scheduling and HDR merging: coordinated omission must be visible, not hidden."""

from __future__ import annotations

import random

import pytest

from benchmarks.load.hdr import merge, new_histogram, record, summary
from benchmarks.load.openloop import RateProfile, arrivals, simulate


def stall_at(start: float, length: float, normal: float = 0.001):
    """A server that answers in `normal` seconds, except requests sent during a stall wait
    until it ends."""

    def service_time(t: float) -> float:
        if start <= t < start + length:
            return (start + length - t) + normal
        return normal

    return service_time


def percentile_ms(timings, attr: str, p: float) -> float:
    hist = new_histogram()
    for t in timings:
        record(hist, getattr(t, attr))
    return hist.get_value_at_percentile(p) / 1000


def evenly(rate: float, duration_s: float) -> list[float]:
    return [i / rate for i in range(int(rate * duration_s))]


def test_a_stall_shows_in_corrected_latency_and_not_in_service_time() -> None:
    # 100 requests/s for 10 s, one sender with one request in flight (a closed pool of one);
    # the server stalls for 1 s at t=4.
    timings = simulate(evenly(100, 10.0), stall_at(4.0, 1.0), senders=1)
    assert len(timings) == 1000
    # Only one request is *sent* during the stall, so the uncorrected view sees one slow call:
    # its p99 stays at the normal 1 ms.
    assert percentile_ms(timings, "service_us", 99) == pytest.approx(1.0, rel=0.01)
    # The ~100 requests that were due during the stall waited for it: about 10% of all requests
    # are late by 0..1 s, so the corrected p99 is close to the full second.
    assert percentile_ms(timings, "corrected_us", 99) > 850
    assert percentile_ms(timings, "corrected_us", 90) > 0
    assert percentile_ms(timings, "corrected_us", 50) == pytest.approx(1.0, rel=0.01)


def test_independent_arrivals_keep_a_slow_operation_to_itself() -> None:
    """Every fourth request takes a second, the others a millisecond. With the arrivals sent
    independently (the lab's generator) the fast ones stay fast; a pool of senders with one
    request in flight each (Locust users as they were) makes them wait behind the slow ones."""
    times = evenly(100, 10.0)
    slow = {t for i, t in enumerate(times) if i % 4 == 0}

    def service(t: float) -> float:
        return 1.0 if t in slow else 0.001

    independent = [x for x in simulate(times, service) if x.scheduled not in slow]
    pooled = [x for x in simulate(times, service, senders=10) if x.scheduled not in slow]
    assert percentile_ms(independent, "corrected_us", 99) == pytest.approx(1.0, rel=0.01)
    assert percentile_ms(pooled, "corrected_us", 99) > 500


def test_without_a_stall_both_views_agree() -> None:
    timings = simulate(evenly(50, 5.0), lambda t: 0.002, senders=1)
    for p in (50, 99, 99.9):
        assert percentile_ms(timings, "corrected_us", p) == percentile_ms(timings, "service_us", p)


def test_poisson_arrivals_keep_the_rate_and_follow_its_steps() -> None:
    starts = list(arrivals(RateProfile.constant(200, end_s=100.0), random.Random(7)))
    assert starts == sorted(starts) and 0 < starts[0] and starts[-1] < 100
    assert len(starts) / 100 == pytest.approx(200, rel=0.03)
    spike = RateProfile.parse("0:100,20:400,40:100", end_s=60.0)
    assert spike.rate_at(10) == 100 and spike.rate_at(20) == 400 and spike.rate_at(59) == 100
    assert spike.expected_requests() == 100 * 20 + 400 * 20 + 100 * 20
    times = list(arrivals(spike, random.Random(3)))
    per_phase = [sum(lo <= t < hi for t in times) for lo, hi in ((0, 20), (20, 40), (40, 60))]
    assert per_phase[0] == pytest.approx(2000, rel=0.08)
    assert per_phase[1] == pytest.approx(8000, rel=0.05)
    assert per_phase[2] == pytest.approx(2000, rel=0.08)
    assert spike.scaled(0.5).expected_requests() == spike.expected_requests() / 2


@pytest.mark.parametrize(
    "bad", ["", "5:100", "0:100,0:200", "0:-1", "0:100,x:1", "0=100"], ids=repr
)
def test_a_malformed_rate_profile_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        RateProfile.parse(bad)


def test_merged_histograms_hold_every_value() -> None:
    a, b = new_histogram(), new_histogram()
    for v in range(1, 1001):
        record(a, v)
    for v in range(1001, 3001):
        record(b, v)
    merged = merge([a.encode(), b.encode().decode()])
    assert merged.get_total_count() == 3000
    s = summary(merged)
    assert s["count"] == 3000
    assert s["p50_ms"] == pytest.approx(1.5, rel=0.01)
    assert s["max_ms"] == pytest.approx(3.0, rel=0.01)
    assert s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["p99.9_ms"] <= s["max_ms"]
    assert summary(new_histogram()) == {"count": 0}
