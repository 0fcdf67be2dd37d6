"""Gray faults in the chaos runs, without running anything: the plan, the experiment file, the
static prediction of what a link fault takes away, and the dose-response's analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.load.request_log import RequestRecord
from lab.chaos.coupling import component_of, coupling_index, path_links, predicted_up
from lab.chaos.dose_response import DoseResponseConfig, dosed, in_flight, plan, row, table
from lab.chaos.experiment import Phases, experiment, restore_target
from lab.chaos.runner import slug
from lab.chaos.suite import ChaosConfig, gray_matrix
from lab.chaos.suite import plan as chaos_plan
from lab.stack.faults import FaultError
from lab.stack.links import LinkPair
from lab.stack.topology import OPERATIONS


def test_the_plan_writes_faults_canonically_and_keeps_what_applies() -> None:
    config = ChaosConfig(
        impls=["sync", "async"],
        faults=["slow-db:posts@200ms", "partition:posts,comments", "slow-bus:50"],
    )
    assert chaos_plan(config) == [
        (1, "sync", "slow-db:posts:200"),
        (1, "async", "slow-db:posts:200"),
        (1, "sync", "partition:comments,posts"),  # async services call nobody
        (1, "async", "slow-bus:50"),  # sync has no bus
    ]
    assert slug("partition:comments,posts") == "partition-comments-posts"


def test_the_gray_matrix() -> None:
    sync, asynchronous = gray_matrix("sync"), gray_matrix("async")
    assert "slow-db:posts:200" in sync and "slow:query:200" in sync
    assert {"partition:comments,posts", "partition:query,comments"} <= set(sync)
    assert "slow-bus:200" in asynchronous and "partition:comments,bus" in asynchronous
    assert not any("clients" in f or "db:" in f.split(":", 1)[1] for f in sync + asynchronous)
    pairs = chaos_plan(ChaosConfig(impls=["sync", "async"], faults=[], gray_matrix=True))
    assert len(pairs) == len(sync) + len(asynchronous)
    assert (1, "async", "partition:comments,posts") not in pairs


def test_the_experiment_restores_a_links_service() -> None:
    doc = experiment(
        "sync", "partition:comments,posts", Path("/s/stack.json"), Path("/r"), Phases(1, 2, 3)
    )
    assert doc["method"][0]["provider"]["arguments"]["fault"] == "partition:comments,posts"
    assert doc["method"][1]["provider"]["arguments"]["target"] == "comments"
    assert restore_target("partition:clients,query") == "query"
    assert restore_target("slow-bus:50") == "bus"
    assert restore_target("lossy:posts,db:posts:5") == "posts"


def test_what_a_gray_fault_is_predicted_to_take_away() -> None:
    assert path_links("sync", "CreateComment") == {
        LinkPair("clients", "comments"),
        LinkPair("comments", "posts"),
        LinkPair("comments", "moderation"),
        LinkPair("comments", "db:comments"),
        LinkPair("posts", "db:posts"),
        LinkPair("moderation", "db:moderation"),
    }
    assert not predicted_up("sync", "partition:comments,posts", "CreateComment")
    assert predicted_up("sync", "partition:comments,posts", "GetPostView")  # query asks posts
    assert not predicted_up("sync", "partition:query,posts", "GetPostView")
    assert predicted_up("async", "partition:comments,bus", "CreateComment")  # the outbox
    assert not predicted_up("sync", "slow-db:posts:200", "CreateComment")  # slow is not up
    assert predicted_up("async", "slow-db:posts:200", "CreateComment")
    assert predicted_up("async", "slow-bus:200", "GetPostView")
    assert not predicted_up("async", "slow:query:200", "GetPostView")
    assert component_of("slow-db:posts:200") == "db:posts"
    assert component_of("partition:comments,posts") == "comments,posts"
    # An operation owns its way in and its database's link: not counted as coupling.
    during = {
        "partition:clients,comments": {"CreateComment": 0.0},
        "partition:comments,posts": {"CreateComment": 0.0, "GetPost": 1.0},
    }
    assert coupling_index("sync", during) == 1 / 2


# --- the dose-response -----------------------------------------------------------------------
def test_a_dose_response_alternates_the_variants() -> None:
    config = DoseResponseConfig("slow-db:query", [0, 10, 50], ["sync", "async"])
    # The sync query service owns no database: only async at every dose.
    assert plan(config) == [(1, 0, "async"), (1, 10, "async"), (1, 50, "async")]
    config = DoseResponseConfig("slow-db:posts", [0, 10], ["sync", "async"], repeat=2)
    assert plan(config) == [
        (1, 0, "sync"),
        (1, 0, "async"),
        (1, 10, "async"),
        (1, 10, "sync"),
        (2, 0, "sync"),
        (2, 0, "async"),
        (2, 10, "async"),
        (2, 10, "sync"),
    ]
    assert dosed("slow-db:posts:999", 10) == "slow-db:posts:10"
    with pytest.raises(FaultError, match="kill-db takes no dose"):
        dosed("kill-db:posts", 10)


def record(op: str, scheduled: float, end: float, status: str = "OK") -> RequestRecord:
    return RequestRecord(op=op, scheduled=scheduled, end=end, status=status)


def test_requests_in_flight_over_the_fault_window() -> None:
    records = [
        record("GetPost", 0.0, 5.0),  # the whole window [1, 3): 2 s
        record("GetPost", 1.5, 2.0),  # 0.5 s
        record("GetPost", 2.5, 4.0),  # 0.5 s
        record("GetPost", 3.5, 4.0),  # after
        record("GetPost", 0.0, 0.5),  # before
    ]
    mean, peak = in_flight(records, 1.0, 3.0)
    assert mean == pytest.approx(3.0 / 2.0)
    assert peak == 2
    assert in_flight([], 1.0, 3.0) == (0.0, 0)
    assert in_flight(records, 3.0, 3.0) == (0.0, 0)


def test_a_rows_figures_come_from_the_experiments_summary() -> None:
    result: dict[str, Any] = {
        "impl": "sync",
        "repetition": 2,
        "fault": "slow-db:posts:200",
        "valid": True,
        "times": {"injected_at": 10.0, "restored_at": 14.0},
        "availability": {"GetPost": {"during": 0.5, "requests_during": 8}},
        "p99_ms": {"GetPost": {"during": 410.0}},
        "cpu_during_s": {"posts": 2.0, "db:posts": 0.4},
        "audit": {
            "total": {
                "valid": True,
                "attempted": 3,
                "acknowledged": 3,
                "lost": 0,
                "duplicated": 0,
                "unexpected": 0,
                "indeterminate": 0,
                "recovered": 0,
                "examples": {},
            }
        },
    }
    records = [record("GetPost", 11.0, 13.0), record("CreatePost", 9.0, 10.5)]
    dose_row = row(result, records, 200.0)
    assert dose_row.window_s == 4.0 and dose_row.repetition == 2
    assert dose_row.audit["acknowledged"] == 3 and "examples" not in dose_row.audit
    assert dose_row.operations["GetPost"].p99_ms == 410.0
    assert dose_row.operations["GetPost"].in_flight_mean == 0.5
    assert dose_row.operations["CreateComment"].availability is None
    assert dose_row.cpu_cores == {"posts": 0.5, "db:posts": 0.1}
    assert dose_row.cpu_cores_total == 0.6
    assert dose_row.in_flight_max == 1
    text = table(
        {
            "fault": "slow-db:posts",
            "unit": "ms",
            "load": {"rate": 40},
            "rows": [
                {
                    **vars(dose_row),
                    "operations": {op: vars(o) for op, o in dose_row.operations.items()},
                }
            ],
        }
    )
    assert "slow-db:posts dose-response at 40 req/s" in text
    line = text.splitlines()[-1]
    assert line.startswith("  200 ms sync         2") and "50% 410" in line
    assert line.endswith(" 0.60")
    assert len(dose_row.operations) == len(OPERATIONS)
