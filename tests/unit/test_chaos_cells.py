"""Blast-radius cells and the matrix on synthetic request logs, with exact expected numbers:
"up" needs availability AND latency, small cells are flagged, repetitions are pooled."""

from __future__ import annotations

import pytest

from lab.chaos.cells import MIN_CELL_REQUESTS, cell, cells
from lab.chaos.matrix import matrix
from lab.chaos.records import FaultWindow, RequestRecord

WINDOW = FaultWindow("kill-db:comments", injected_at=1000.0, restored_at=1010.0)


def requests(op: str, n: int, latency_ms: float, failed: int = 0, partial: int = 0) -> list:
    """n requests of `op` spread over the fault window, the first `failed` failing and the next
    `partial` answered partially."""
    out = []
    for i in range(n):
        status = "UNAVAILABLE" if i < failed else "PARTIAL" if i < failed + partial else "OK"
        start = 1000.0 + 10.0 * i / n
        out.append(RequestRecord(op, start, start + latency_ms / 1000, status))
    return out


def test_up_needs_both_availability_and_a_p99_within_the_slo() -> None:
    fast = cell(requests("GetPost", 300, 10.0, failed=2))
    assert fast.availability == pytest.approx(298 / 300) and fast.p99_ms == pytest.approx(10.0)
    assert fast.up and fast.up_by_availability and not fast.small and fast.p99_estimable
    stalled = cell(requests("GetPost", 300, 4000.0))  # every request answered, 4 s late
    assert stalled.availability == 1.0 and stalled.up_by_availability and not stalled.up
    down = cell(requests("GetPost", 300, 10.0, failed=30))
    assert down.availability == pytest.approx(0.9) and not down.up
    assert cell([]).up is None and cell([]).availability is None


def test_partial_answers_are_answers_counted_apart() -> None:
    c = cell(requests("GetPostView", 250, 5.0, failed=50, partial=100))
    assert (c.ok, c.partial, c.requests) == (100, 100, 250)
    assert c.availability == pytest.approx(0.4) and c.answered == pytest.approx(0.8)
    assert c.p99_ms == pytest.approx(5.0) and not c.up


def test_small_cells_and_unestimable_p99s_are_flagged() -> None:
    few = cell(requests("ListPostViews", MIN_CELL_REQUESTS - 1, 5.0, failed=120))
    assert few.small and not few.p99_estimable  # 79 answers: a p99 of them is their maximum


def test_cells_take_only_the_requests_scheduled_while_the_fault_held() -> None:
    outside = [RequestRecord("GetPost", 990.0, 990.01, "UNAVAILABLE")]
    outside.append(RequestRecord("GetPost", 1010.0, 1010.01, "UNAVAILABLE"))  # at the restore
    got = cells(outside + requests("GetPost", 10, 1.0), WINDOW)
    assert got["GetPost"].requests == 10 and got["GetPost"].availability == 1.0


def test_the_matrix_pools_repetitions_and_keeps_their_range() -> None:
    logs = {1: requests("GetPostView", 150, 5.0, failed=15), 2: requests("GetPostView", 150, 90.0)}
    experiments = [
        {
            "impl": "sync",
            "fault": "kill-db:comments",
            "repetition": rep,
            "times": {"injected_at": 1000.0, "restored_at": 1010.0},
            "recovery": {"GetPostView": {"seconds": seconds}},
        }
        for rep, seconds in ((1, 0.2), (2, None))
    ]
    m = matrix(experiments, lambda e: logs[e["repetition"]])
    mc = m["rows"]["kill-db:comments"]["GetPostView"]["sync"]
    assert mc["repetitions"] == 2 and mc["cell"]["requests"] == 300
    assert mc["during"] == pytest.approx(285 / 300)
    assert mc["availability_range"] == [pytest.approx(0.9), 1.0]
    assert mc["p99_range_ms"] == [pytest.approx(5.0), pytest.approx(90.0)]
    assert mc["cell"]["p99_ms"] == pytest.approx(90.0)  # pooled: the slow repetition's tail
    assert mc["never_recovered"] == 1 and mc["recovery_s"]["values"] == [0.2]
    assert mc["predicted_up"] is False and mc["agrees"] is True  # predicted down, measured down
    assert m["coupling_index"]["sync"] == 1.0 and m["coupling_index_up"]["sync"] == 1.0
    assert mc["foreign"]  # GetPostView is the query service's, not the comments database's
    # Repetition 1 lost 10 % of its views (down), repetition 2 none at 90 ms (down by latency).
    assert m["coupling_index_per_repetition"]["availability"]["sync"] == [1.0, 0.0]
    assert m["coupling_index_per_repetition"]["up"]["sync"] == [1.0, 1.0]
