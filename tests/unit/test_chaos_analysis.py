"""The chaos figures on small synthetic request logs, with exact expected numbers."""

from __future__ import annotations

import csv
import json

import pytest

from lab.chaos.catchup import catch_up
from lab.chaos.figures import percentile
from lab.chaos.phases import availability, phase_p99
from lab.chaos.records import FaultWindow, RequestRecord
from lab.chaos.recovery import Recovery, recovery, recovery_s
from lab.chaos.timeline import timeline, timeline_csv_rows, write_timeline_csv

WINDOW = FaultWindow("kill-db:comments", injected_at=1000.0, restored_at=1005.0)


def rec(
    op: str,
    scheduled: float,
    status: str = "OK",
    latency_s: float = 0.25,
    **kw: str,
) -> RequestRecord:
    return RequestRecord(op=op, scheduled=scheduled, end=scheduled + latency_s, status=status, **kw)


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_timeline_a_second_without_requests_is_a_gap_not_an_outage() -> None:
    records = [
        rec("GetPost", 997.5),  # before start: left out
        rec("GetPost", 998.5),
        rec("CreatePost", 999.0),
        rec("GetPost", 1000.2, "UNAVAILABLE"),
        rec("GetPost", 1000.7, "UNAVAILABLE"),
        rec("GetPost", 1000.9, "DEADLINE_EXCEEDED"),
        rec("GetPost", 1002.1, latency_s=0.5),
        rec("GetPost", 1003.0),  # at end: left out
    ]
    tl = timeline(records, WINDOW, start=998.0, end=1003.0)
    assert tl.ops == ("CreatePost", "GetPost")
    assert [row.second for row in tl.of("GetPost")] == [-2, -1, 0, 1, 2]
    assert len(tl.rows) == 10

    before, gap_before, fault, gap, back = tl.of("GetPost")
    assert (before.requests, before.ok, before.availability) == (1, 1, 1.0)
    assert before.p50_ms == pytest.approx(250.0)
    assert (fault.requests, fault.ok, fault.availability) == (3, 0, 0.0)
    assert fault.errors == {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 2}
    assert fault.p50_ms is None and fault.p99_ms is None
    for empty in (gap_before, gap):
        assert (empty.requests, empty.ok, empty.errors) == (0, 0, {})
        assert empty.availability is None
        assert empty.p50_ms is None and empty.p99_ms is None
    assert back.p99_ms == pytest.approx(500.0)

    create = tl.of("CreatePost")
    assert [row.requests for row in create] == [0, 1, 0, 0, 0]
    assert [row.availability for row in create] == [None, 1.0, None, None, None]
    json.dumps(tl.to_dict())  # serializable


def test_timeline_latency_is_over_successful_requests_only() -> None:
    records = [rec("GetPostView", 1000.0, latency_s=ms / 1000) for ms in range(1, 101)]
    records.append(rec("GetPostView", 1000.5, "UNAVAILABLE", latency_s=5.0))
    (row,) = timeline(records, WINDOW, start=1000.0, end=1001.0).rows
    assert (row.requests, row.ok, row.errors) == (101, 100, {"UNAVAILABLE": 1})
    assert row.availability == pytest.approx(100 / 101)
    assert row.p50_ms == pytest.approx(50.0)
    assert row.p99_ms == pytest.approx(99.0)


def test_timeline_csv(tmp_path) -> None:
    records = [
        rec("GetPost", 999.5),
        rec("GetPost", 1000.1, "UNAVAILABLE"),
        rec("GetPost", 1000.2, "UNAVAILABLE"),
        rec("GetPost", 1000.3, "DEADLINE_EXCEEDED"),
        rec("GetPost", 1000.4),
    ]
    tl = timeline(records, WINDOW, start=999.0, end=1002.0)
    path = tmp_path / "timeline.csv"
    write_timeline_csv(tl, path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == timeline_csv_rows(tl)
    assert rows == [
        ["second", "op", "requests", "ok", "errors", "availability", "p50_ms", "p99_ms"],
        ["-1", "GetPost", "1", "1", "", "1", "250", "250"],
        ["0", "GetPost", "4", "1", "DEADLINE_EXCEEDED:1;UNAVAILABLE:2", "0.25", "250", "250"],
        ["1", "GetPost", "0", "0", "", "", "", ""],
    ]


def test_availability_per_phase() -> None:
    records = [
        rec("GetPost", 994.0, "UNAVAILABLE"),  # warm-up: ignored
        rec("GetPost", 996.0),
        rec("GetPost", 997.0, "UNAVAILABLE"),
        rec("GetPost", 1000.0, "UNAVAILABLE"),  # the injection itself: during
        rec("GetPost", 1003.0, "UNAVAILABLE"),
        rec("GetPost", 1004.9),
        rec("GetPost", 1005.0),  # the restore itself: after
        rec("GetPost", 1012.0),
        rec("CreateComment", 1001.0, "UNAVAILABLE"),
    ]
    result = availability(records, WINDOW, warmup_end=995.0)
    get = result["GetPost"]
    assert (get.before, get.during, get.after) == (0.5, pytest.approx(1 / 3), 1.0)
    assert (get.requests_before, get.requests_during, get.requests_after) == (2, 3, 2)
    comment = result["CreateComment"]
    assert (comment.before, comment.during, comment.after) == (None, 0.0, None)
    assert (comment.requests_before, comment.requests_during, comment.requests_after) == (0, 1, 0)
    json.dumps({op: a.to_dict() for op, a in result.items()})


def test_phase_p99() -> None:
    records = [rec("GetPost", 996.0 + i / 100, latency_s=(i + 1) / 1000) for i in range(100)]
    records += [
        rec("GetPost", 1001.0, latency_s=2.0),
        rec("GetPost", 1002.0, "UNAVAILABLE", latency_s=5.0),  # failed: no latency
    ]
    result = phase_p99(records, WINDOW, warmup_end=995.0)["GetPost"]
    assert result.before == pytest.approx(99.0)
    assert result.during == pytest.approx(2000.0)
    assert result.after is None


def per_second(op: str, seconds: range, bad: set[int], skip: frozenset[int] = frozenset()):
    """Two requests per second of `seconds` (relative to the injection); both fail in `bad`."""
    return [
        rec(op, WINDOW.injected_at + s + half, "UNAVAILABLE" if s in bad else "OK")
        for s in seconds
        if s not in skip
        for half in (0.0, 0.5)
    ]


def every(op: str, start: float, stop: float, gap: float, bad: set[int] = frozenset()) -> list:
    """Requests of `op` every `gap` s from `start` (inclusive) to `stop` (exclusive); the i-th
    (from 0) fails when i is in `bad`."""
    n = round((stop - start) / gap)
    return [rec(op, start + i * gap, "UNAVAILABLE" if i in bad else "OK") for i in range(n)]


def test_recovery_is_the_first_request_that_starts_a_clean_second() -> None:
    # GetPost every 0.1 s from 999 to 1010. The fault holds 1000..1005. Index 10 is at 1000.0.
    # Failing: 1000.0..1005.1 (indices 10..61), then a lucky success at 1005.2 (62), one more
    # failure at 1005.3 (63), and from 1005.4 (64) every request succeeds.
    records = every("GetPost", 999.0, 1010.0, 0.1, bad=set(range(10, 62)) | {63})
    got = recovery(records, WINDOW)["GetPost"]
    assert got.seconds == pytest.approx(0.4)  # 1005.4 - 1005.0: the lucky 1005.2 is not it
    assert got.resolution_s == pytest.approx(0.1)
    assert got.failures_after == 0 and got.window_s == 1.0


def test_a_later_relapse_is_counted_not_hidden() -> None:
    # Back at the restore itself (1005.0 is a success, and the whole next second too), then a
    # single failure at 1008.0 (index 90).
    records = every("GetPost", 999.0, 1010.0, 0.1, bad=set(range(10, 50)) | {90})
    got = recovery(records, WINDOW)["GetPost"]
    assert got.seconds == pytest.approx(0.0)
    assert got.failures_after == 1


def test_an_operation_that_never_dropped_recovers_in_zero_and_one_without_data_has_none() -> None:
    records = every("CreatePost", 999.0, 1010.0, 0.05) + every("ListPostViews", 999.0, 1003.0, 0.1)
    got = recovery(records, WINDOW)
    assert got["CreatePost"] == Recovery(0.0, pytest.approx(0.05), 0)
    assert got["ListPostViews"].seconds is None  # no request after the restore: no evidence


def test_never_back_when_no_whole_clean_window_fits_before_the_log_ends() -> None:
    # Fails every other request after the restore: never a clean second.
    flaky = every("GetPost", 999.0, 1010.0, 0.1, bad=set(range(10, 110, 2)))
    # Clean only from 1009.5: the window would end past the log's last request (1009.9).
    late = every("GetPostView", 999.0, 1010.0, 0.1, bad=set(range(10, 105)))
    got = recovery(flaky + late, WINDOW)
    assert got["GetPost"].seconds is None and got["GetPostView"].seconds is None


def test_a_clean_window_needs_enough_requests() -> None:
    # One request every 0.3 s: a one-second window holds 3 or 4 of them, fewer than 5.
    # Failing from 1000.2 to 1005.0 (indices 4..20); from 1005.3 on every request succeeds.
    records = every("ListComments", 999.0, 1012.0, 0.3, bad=set(range(4, 21)))
    assert recovery(records, WINDOW, min_requests=5)["ListComments"].seconds is None
    assert recovery(records, WINDOW, min_requests=3)["ListComments"].seconds == pytest.approx(0.3)
    assert recovery_s(recovery(records, WINDOW, min_requests=3)) == {
        "ListComments": pytest.approx(0.3)
    }


def test_catch_up_counts_only_posts_acknowledged_at_least_1s_before_the_refusal() -> None:
    window = FaultWindow("stop:bus", injected_at=1000.0, restored_at=1010.0)

    def comment(post_id: str, end: float, status: str = "NOT_FOUND") -> RequestRecord:
        return RequestRecord(
            "CreateComment", end - 0.25, end, status, request_id="c", post_id=post_id
        )

    records = [
        RequestRecord("CreatePost", 1000.75, 1001.0, "OK", request_id="r1", id="p1"),
        RequestRecord("CreatePost", 1011.25, 1011.5, "OK", request_id="r2", id="p2"),
        RequestRecord("CreatePost", 1011.25, 1011.5, "UNAVAILABLE", request_id="r3"),
        comment("p1", 1002.0),  # exactly 1 s after the ack: counted (during the fault)
        comment("p1", 1011.0),  # 10 s: counted
        comment("p1", 1012.5),  # 11.5 s: counted, the longest
        comment("p2", 1012.0),  # 0.5 s: young, not counted
        comment("p2", 1012.75),  # 1.25 s: counted, the latest
        comment("seeded", 1003.0),  # a post no CreatePost acknowledged
        comment("p1", 1013.0, "OK"),  # accepted: not a refusal
        comment("p1", 1013.5, "UNAVAILABLE"),  # not a refusal for an unknown post
    ]
    result = catch_up(records, window)
    assert result.refused == 4
    assert result.posts == 2
    assert result.last_refusal_after_restore_s == pytest.approx(2.75)
    assert result.longest_ack_to_refusal_s == pytest.approx(11.5)
    assert result.refused_young == 1
    assert result.refused_unknown_post == 1
    json.dumps(result.to_dict())


def test_catch_up_without_refusals() -> None:
    records = [
        RequestRecord("CreatePost", 1000.0, 1000.5, "OK", request_id="r1", id="p1"),
        RequestRecord("CreateComment", 1000.6, 1000.7, "NOT_FOUND", request_id="c", post_id="p1"),
    ]
    result = catch_up(records, WINDOW)
    assert (result.refused, result.posts, result.refused_young) == (0, 0, 1)
    assert result.last_refusal_after_restore_s is None
    assert result.longest_ack_to_refusal_s is None
