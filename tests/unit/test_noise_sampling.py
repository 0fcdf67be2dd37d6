"""The noise sampler's pure parts: PSI and schedstat text, per-thread sums over a fake /proc,
PostgreSQL's statistics by version, GC pauses and histogram windows, the stack's knobs."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from benchmarks.noise import procfs
from benchmarks.noise.gc_activity import difference, generation_delta
from benchmarks.noise.pg_activity import PgCounters, checkpoint_query, wal_query
from benchmarks.noise.sampler import NoiseSampler, components
from blog.rpc import gc_pauses
from blog.rpc.metrics import Metrics, new_histogram
from blog.rpc.settings import load_settings
from lab.stack.config import StackOptions
from lab.stack.knobs import INSTRUMENTATION, NoiseKnobs
from lab.stack.stackfile import StackInfo

PSI = """some avg10=23.62 avg60=48.17 avg300=36.63 total=1036638714
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""


def test_pressure_lines_are_read_by_kind() -> None:
    lines = procfs.parse_pressure(PSI)
    assert lines["some"] == procfs.Pressure(23.62, 48.17, 36.63, 1036638714)
    assert lines["full"].total_us == 0


def test_schedstat_is_run_time_wait_time_and_timeslices() -> None:
    assert procfs.parse_schedstat("171327 992063 2\n") == procfs.SchedStat(171327, 992063, 2)


def fake_proc(root: Path, threads: dict[int, dict[int, str]], kids: dict[int, str]) -> Path:
    """A /proc with `threads` (pid -> tid -> schedstat text) and children lists."""
    for pid, tasks in threads.items():
        for tid, text in tasks.items():
            task = root / str(pid) / "task" / str(tid)
            task.mkdir(parents=True)
            (task / "schedstat").write_text(text)
            (task / "children").write_text(kids.get(tid, ""))
    (root / "pressure").mkdir()
    (root / "pressure" / "cpu").write_text(PSI)
    return root


def test_a_process_is_the_sum_of_its_threads_and_its_tree(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {10: {10: "5 7 1", 11: "3 2 1"}, 20: {20: "1 1 1"}, 21: {21: "9 9 9"}},
        {10: "20 ", 11: "21"},  # children listed by the thread that forked them
    )
    assert procfs.thread_schedstats(10, proc) == {
        10: procfs.SchedStat(5, 7, 1),
        11: procfs.SchedStat(3, 2, 1),
    }
    assert sorted(procfs.tree(10, proc)) == [10, 20, 21]
    assert procfs.thread_schedstats(99, proc) == {}  # gone: nothing, no error
    assert procfs.read_cpu_pressure(proc) == procfs.parse_pressure(PSI)["some"]
    assert procfs.read_cpu_pressure(tmp_path / "nowhere") is None


def test_the_stack_components_are_replicas_servers_and_the_bus() -> None:
    stack: StackInfo = {
        "impl": "async",
        "services": {"posts": ["a:1"], "query": ["b:1", "b:2"]},
        "databases": {"posts": {"pid": 5, "dsn": "d", "log": "l"}},
        "processes": {"posts-0": {"pid": 1, "log": ""}, "query-1": {"pid": 3, "log": ""}},
        "runner_pid": 0,
        "bus": {"url": "u", "pid": 7, "monitor": "m", "log": ""},
    }
    assert components(stack) == {
        "posts-0": [1],
        "query-1": [3],
        "postgres-posts": [5],
        "nats-server": [7],
    }
    names = NoiseSampler(stack)._service_addresses()
    assert names == {"posts-0": "a:1", "query-0": "b:1", "query-1": "b:2"}


def test_every_running_node_of_a_bus_cluster_is_the_bus() -> None:
    node = {"url": "u", "monitor": "m", "log": ""}
    stack: StackInfo = {
        "impl": "async",
        "services": {},
        "databases": {},
        "processes": {},
        "runner_pid": 0,
        "bus": {
            **{"url": "u", "pid": 7, "monitor": "m", "log": ""},
            "nodes": [
                {**node, "name": "lab-bus-0", "pid": 7},
                {**node, "name": "lab-bus-1", "pid": None},  # killed
                {**node, "name": "lab-bus-2", "pid": 9},
            ],
        },
    }
    assert components(stack) == {"nats-server": [7, 9]}


def test_run_queue_counts_what_each_thread_added_during_the_step() -> None:
    sampler = NoiseSampler(
        {"impl": "sync", "services": {}, "databases": {}, "processes": {}, "runner_pid": 0}
    )
    sampler._start_run = {("posts-0", 1, 1): 1_000_000, ("posts-0", 1, 2): 0}
    sampler._start_stats = {("posts-0", 1, 1): 2_000_000, ("posts-0", 1, 2): 0}
    waits = sampler._run_queue(
        {
            ("posts-0", 1, 1): procfs.SchedStat(3_000_000, 5_000_000, 9),
            ("posts-0", 1, 2): procfs.SchedStat(1_000_000, 1_000_000, 1),
            ("generator", 40, 40): procfs.SchedStat(2_000_000, 4_000_000, 3),  # new: from 0
        }
    )
    assert waits["posts-0"].processes == 1
    assert waits["posts-0"].run_ms == pytest.approx(3.0)
    assert waits["posts-0"].wait_ms == pytest.approx(4.0)
    assert waits["generator"].wait_share == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    ("version", "view"),
    [(150004, "pg_stat_bgwriter"), (160000, "pg_stat_bgwriter"), (170000, "pg_stat_checkpointer")],
)
def test_checkpoints_are_read_where_the_version_keeps_them(version: int, view: str) -> None:
    assert view in checkpoint_query(version)


def test_wal_io_is_read_where_the_version_keeps_it() -> None:
    assert wal_query(130000) is None
    assert "pg_stat_wal" in (wal_query(150000) or "")
    assert "pg_stat_io" in (wal_query(180000) or "") and "'wal'" in (wal_query(180000) or "")


def test_counters_subtract_and_keep_what_a_version_lacks() -> None:
    after = PgCounters(checkpoints_timed=3, checkpoint_sync_ms=12.5, wal_syncs=None)
    before = PgCounters(checkpoints_timed=1, checkpoint_sync_ms=2.5, wal_syncs=None)
    delta = after.delta(before)
    assert delta.checkpoints_timed == 2 and delta.checkpoint_sync_ms == 10.0
    assert delta.wal_syncs is None


def test_gc_pauses_are_counted_per_generation() -> None:
    metrics = Metrics("test")
    callback = gc_pauses.install(metrics)
    try:
        gc.collect(2)
    finally:
        gc.callbacks.remove(callback)
    collections, pause = gc_pauses.counter_names(2)
    assert metrics.counters[collections] >= 1
    assert metrics.counters[pause] >= 0
    assert metrics.histograms[gc_pauses.histogram_name(2)].get_total_count() >= 1


def test_a_histogram_window_is_the_difference_of_two_snapshots() -> None:
    before, after = new_histogram(), new_histogram()
    for value in (100, 200):
        before.record_value(value)
        after.record_value(value)
    after.record_value(150)
    after.record_value(5000)
    window = difference(after, before)
    assert window is not None and window.get_total_count() == 2
    assert window.get_max_value() == pytest.approx(5000, rel=1e-3)
    reset = new_histogram()
    reset.record_value(300)
    assert difference(reset, before) is None  # reset in between: less than before


def test_a_reset_during_the_step_keeps_the_maximum_after_it() -> None:
    from blog.v1 import internal_pb2

    name = gc_pauses.histogram_name(0)
    old, new = new_histogram(), new_histogram()
    old.record_value(900)
    new.record_value(40)
    collections, pause = gc_pauses.counter_names(0)
    before = internal_pb2.MetricsSnapshot(
        counters={collections: 5, pause: 1000}, histograms={name: old.encode()}
    )
    after = internal_pb2.MetricsSnapshot(
        counters={collections: 7, pause: 1100}, histograms={name: new.encode()}
    )
    gen = generation_delta(after, before, 0)
    assert (gen.collections, gen.pause_total_ms) == (2, 0.1)
    assert gen.max_after_reset and gen.pause_max_ms == pytest.approx(0.04, rel=1e-2)


def test_the_knobs_default_to_the_stack_as_it_always_runs() -> None:
    assert NoiseKnobs().postgres_settings() == INSTRUMENTATION
    assert NoiseKnobs().service_env() == {}
    assert "LAB_GC_FREEZE" not in StackOptions().service_env()
    knobs = NoiseKnobs(synchronous_commit_off=True, bus_memory_storage=True, gc_freeze=True)
    assert knobs.postgres_settings()["synchronous_commit"] == "off"
    env = StackOptions(noise=knobs).service_env()
    assert env["LAB_GC_FREEZE"] == env["LAB_BUS_MEMORY_STORAGE"] == "1"


def test_services_read_the_knobs_from_their_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings("test", [])
    assert not defaults.gc_freeze and not defaults.bus_memory_storage
    for name, value in NoiseKnobs(bus_memory_storage=True, gc_freeze=True).service_env().items():
        monkeypatch.setenv(name, value)
    settings = load_settings("test", [])
    assert settings.gc_freeze and settings.bus_memory_storage
