"""The experiment files, the run plan and the static coupling, without running anything."""

from __future__ import annotations

from pathlib import Path

from lab.chaos.coupling import coupling_index, dependencies, predicted_up
from lab.chaos.experiment import Phases, experiment, restore_target
from lab.chaos.suite import ChaosConfig, plan


def test_experiment_has_steady_state_method_and_rollback_in_chaos_toolkit_form() -> None:
    doc = experiment("sync", "kill-db:comments", Path("/s/stack.json"), Path("/r"), Phases(1, 2, 3))
    probes = doc["steady-state-hypothesis"]["probes"]
    assert [p["provider"]["func"] for p in probes] == ["all_serving", "error_rate"]
    assert probes[1]["tolerance"] == [0, 0.001]  # a range, not a set
    method = doc["method"]
    assert [a["provider"]["func"] for a in method] == ["inject", "restore"]
    assert method[0]["provider"]["arguments"]["fault"] == "kill-db:comments"
    assert method[0]["pauses"]["after"] == 2 and method[1]["pauses"]["after"] == 3
    assert method[1]["provider"]["arguments"]["target"] == "comments"
    (rollback,) = doc["rollbacks"]
    assert rollback["provider"]["arguments"]["target"] == "all"
    assert all(a["provider"]["module"].startswith("lab.chaos.") for a in [*probes, *method])


def test_restore_target() -> None:
    assert restore_target("kill-db:comments") == "comments"
    assert restore_target("freeze:moderation") == "moderation"
    assert restore_target("kill-bus") == "bus"


def test_plan_interleaves_implementations_and_skips_what_does_not_apply() -> None:
    config = ChaosConfig(impls=["sync", "async"], faults=["kill-db:comments", "kill-bus"])
    assert plan(config) == [
        (1, "sync", "kill-db:comments"),
        (1, "async", "kill-db:comments"),
        (1, "async", "kill-bus"),
    ]
    matrix = [p[1:] for p in plan(ChaosConfig(impls=["sync", "async"], faults=[], matrix=True))]
    assert ("async", "kill-db:query") in matrix and ("sync", "kill-db:query") not in matrix
    assert len([p for p in matrix if p[0] == "sync"]) == 7  # 3 databases, 4 services
    assert len([p for p in matrix if p[0] == "async"]) == 9  # 4 databases, 4 services, bus


def test_repetitions_reverse_the_order_every_other_time() -> None:
    config = ChaosConfig(impls=["sync", "async"], faults=["kill-db:comments"], repeat=3)
    assert plan(config) == [
        (1, "sync", "kill-db:comments"),
        (1, "async", "kill-db:comments"),
        (2, "async", "kill-db:comments"),
        (2, "sync", "kill-db:comments"),
        (3, "sync", "kill-db:comments"),
        (3, "async", "kill-db:comments"),
    ]


def test_static_dependencies_follow_the_topology() -> None:
    assert dependencies("sync", "CreateComment") == {
        "comments",
        "db:comments",
        "posts",
        "db:posts",
        "moderation",
        "db:moderation",
    }
    assert dependencies("sync", "GetPostView") == {
        "query",
        "posts",
        "db:posts",
        "comments",
        "db:comments",
    }
    assert dependencies("async", "GetPostView") == {"query", "db:query"}
    assert dependencies("async", "CreateComment") == {"comments", "db:comments"}
    assert not predicted_up("sync", "kill-db:posts", "ListPostViews")
    assert predicted_up("async", "kill-db:posts", "ListPostViews")
    assert predicted_up("async", "kill-bus", "CreatePost")  # writes go to the outbox


def test_coupling_index_counts_only_operations_the_component_does_not_own() -> None:
    during = {
        "kill-db:comments": {"CreateComment": 0.0, "GetPostView": 0.0, "CreatePost": 1.0},
        "kill:posts": {"CreatePost": 0.0, "GetPostView": 0.995, "ListComments": None},
    }
    # Pairs not owned: (db:comments, GetPostView) dropped, (db:comments, CreatePost) up,
    # (posts, GetPostView) up; ListComments had no request. 1 of 3.
    assert coupling_index("sync", during) == 1 / 3
    assert coupling_index("sync", {}) is None
