"""The overload experiment's timeline and figures on synthetic request logs and timelines, with
exact expected values (docs/METHOD.md, Overload)."""

from __future__ import annotations

import pytest

from lab.chaos.overload.runner import OverloadConfig, plan
from lab.chaos.overload.timeline import (
    Sample,
    Second,
    base_served,
    figures,
    spike_send_lags,
    timeline,
)
from lab.chaos.records import RequestRecord

SLO = 50.0
T0 = 1000.0  # the spike starts here
LAGS = [1.0] * 100  # the generator's send lags in the spike: on time


def sec(n: int, offered: int = 100, good: int = 100, p99: float = 10.0, **kw: object) -> Second:
    return Second(second=n, offered=offered, completed=offered, good=good, p99_ms=p99, **kw)


def test_timeline_buckets_by_schedule_and_counts_in_flight_and_server_work() -> None:
    records = [
        # second -1: two fast answers
        RequestRecord("CreatePost", T0 - 0.9, T0 - 0.89, "OK", sent=T0 - 0.9),
        RequestRecord("GetPost", T0 - 0.5, T0 - 0.49, "OK", sent=T0 - 0.5),
        # second 0: one slow answer (still in flight at the end of second 0), one error, one
        # the generator could not send
        RequestRecord("GetPost", T0 + 0.2, T0 + 1.5, "OK", sent=T0 + 0.2),
        RequestRecord("GetPost", T0 + 0.3, T0 + 0.31, "UNAVAILABLE", sent=T0 + 0.3),
        RequestRecord("GetPost", T0 + 0.4, T0 + 0.4, "GENERATOR_OVERFLOW"),
    ]
    samples = [Sample(T0 - 1.5, 100, 3, 0, None), Sample(T0 - 0.5, 104, 5, 1, 7.0)]
    got = timeline(records, T0, samples, SLO)
    assert [s.second for s in got] == [-1, 0]
    before, spike = got
    assert (before.offered, before.completed, before.good, before.in_flight) == (2, 2, 2, 0)
    assert (before.rpcs, before.backlog, before.outbox, before.lag_p99_ms) == (4, 5, 1, 7.0)
    assert before.attempts_per_request == 2.0
    assert spike.offered == 3 and spike.completed == 1  # the slow one ends in second 1
    assert spike.good == 0  # its 1,300 ms are past the SLO
    assert spike.errors == {"GENERATOR_OVERFLOW": 1, "UNAVAILABLE": 1}
    assert spike.in_flight == 1 and spike.p99_ms == pytest.approx(1300.0)
    assert spike.send_lag_p99_ms == pytest.approx(0.0)


def test_recovery_is_the_first_of_five_good_seconds_after_the_spike() -> None:
    seconds = [sec(s) for s in range(-5, 0)]  # before: good
    seconds += [sec(s, good=40, p99=900) for s in range(0, 10)]  # the spike: 10 s, bad
    seconds += [sec(10, good=60, p99=400), sec(11, good=99, p99=45)]  # 11 good, then ...
    seconds += [sec(12, good=90, p99=60)]  # ... bad again
    seconds += [sec(s) for s in range(13, 30)]  # good from 13 on
    got = figures(seconds, 10.0, 400.0, 200.0, 800.0, SLO, 10.0, LAGS)
    assert got.recovery_s == 3.0  # seconds 13..17 are the first five good ones in a row
    assert not got.metastable
    # The spike offered (800 - 400) * 10 = 4,000 requests beyond capacity; at the base rate
    # 200/s are spare: 20 s to drain them.
    assert got.predicted_drain_s == pytest.approx(20.0)


def test_never_back_while_the_load_is_at_its_base_is_metastable() -> None:
    seconds = [sec(s) for s in range(-5, 0)] + [sec(s, good=10, p99=3000) for s in range(0, 40)]
    got = figures(seconds, 10.0, 400.0, 360.0, 800.0, SLO, 10.0, LAGS)
    assert got.recovery_s is None and got.metastable
    assert got.predicted_drain_s == pytest.approx(100.0)  # 4,000 beyond capacity / 40 spare


def test_never_back_from_a_base_it_could_not_serve_is_overload_not_metastability() -> None:
    after = [sec(s, good=10, p99=3000) for s in range(0, 40)]
    # 99 % of the five seconds before the last one before the spike within the SLO, exactly:
    # served. The last second (-1) is left out: its late requests meet the spike's queue.
    served = [sec(s, good=99) for s in range(-6, -1)] + [sec(-1, good=0)]
    assert base_served(served) is True
    got = figures(served + after, 10.0, 400.0, 360.0, 800.0, SLO, 10.0, LAGS)
    assert got.metastable and not got.overloaded_at_base
    # 98.8 % of them: not served; "never back" is then overload, not metastability.
    late = [sec(s, good=99) for s in range(-6, -2)] + [sec(-2, good=98), sec(-1)]
    assert base_served(late) is False
    got = figures(late + after, 10.0, 400.0, 360.0, 800.0, SLO, 10.0, LAGS)
    assert got.overloaded_at_base and not got.metastable and got.recovery_s is None
    # Fewer than five seconds before the guard: no judgement of the base either way.
    assert base_served(served[-4:]) is None
    got = figures(served[-4:] + after, 10.0, 400.0, 360.0, 800.0, SLO, 10.0, LAGS)
    assert not got.overloaded_at_base and got.metastable


def test_drain_ends_when_backlog_and_in_flight_are_back_to_their_level() -> None:
    seconds = [sec(s, backlog=10, in_flight=3) for s in range(-3, 0)]
    seconds += [sec(s, backlog=500 * (s + 1), in_flight=200) for s in range(0, 5)]
    seconds += [sec(5, backlog=1000, in_flight=4), sec(6, backlog=30, in_flight=4)]
    seconds += [sec(s, backlog=12, in_flight=3) for s in range(7, 12)]
    got = figures(seconds, 5.0, 400.0, 200.0, 800.0, SLO, 10.0, LAGS)
    assert got.peak_backlog == 2500 and got.peak_in_flight == 200
    assert got.drain_s == 2.0  # second 7: backlog <= 2 x 10 + 5 and in flight <= 2 x 3 + 5


def test_work_amplification() -> None:
    seconds = [sec(s, rpcs=300) for s in range(-3, 0)]  # 3 server RPCs per request
    seconds += [sec(s, rpcs=750) for s in range(0, 5)]  # 7.5 per request
    got = figures(seconds, 5.0, 400.0, 200.0, 800.0, SLO, 10.0, LAGS)
    assert got.attempts_before == 3.0 and got.attempts_spike == 7.5
    assert got.amplification == 2.5


def test_the_generator_is_judged_on_its_spike_send_lags_pooled() -> None:
    seconds = [sec(s) for s in range(-3, 0)] + [sec(s) for s in range(0, 5)]
    # 1,000 sends: 990 on time and 10 late (one second's stall). Pooled, the p99 is rank 990:
    # on time, although the second they fell in had a p99 of 40 ms.
    lags = [2.0] * 990 + [40.0] * 10
    got = figures(seconds, 5.0, 400.0, 200.0, 800.0, SLO, 10.0, lags)
    assert got.generator_lag_p99_ms == 2.0 and not got.generator_behind
    late = [2.0] * 980 + [25.0] * 20  # rank 990 is late: behind
    got = figures(seconds, 5.0, 400.0, 200.0, 800.0, SLO, 10.0, late)
    assert got.generator_lag_p99_ms == 25.0 and got.generator_behind
    assert figures(seconds, 5.0, 400.0, 200.0, 800.0, SLO, 10.0, []).generator_lag_p99_ms is None


def test_spike_send_lags_take_the_sent_requests_scheduled_in_the_spike() -> None:
    records = [
        RequestRecord("GetPost", T0 - 0.1, T0, "OK", sent=T0 - 0.09),  # before the spike
        RequestRecord("GetPost", T0 + 0.5, T0 + 0.6, "OK", sent=T0 + 0.503),
        RequestRecord("GetPost", T0 + 1.0, T0 + 1.0, "GENERATOR_OVERFLOW"),  # never sent
        RequestRecord("GetPost", T0 + 1.9, T0 + 2.1, "OK", sent=T0 + 1.92),
        RequestRecord("GetPost", T0 + 2.0, T0 + 2.1, "OK", sent=T0 + 2.0),  # after: [T0, T0+2)
    ]
    assert spike_send_lags(records, T0, 2.0) == pytest.approx([3.0, 20.0])


def test_plan_interleaves_variants_per_base_rate() -> None:
    config = OverloadConfig(impls=["sync", "async"], capacity=400, capacity_source="given")
    assert plan(config) == [(0.5, "sync"), (0.5, "async"), (0.9, "async"), (0.9, "sync")]
