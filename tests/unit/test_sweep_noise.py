"""The capacity steps' noise records and what is read from them (benchmarks/noise/sweeps.py):
a sample reads back as written, only rates below capacity are read, the tail's excess over its
rate's usual one, and which source goes with it."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from benchmarks.noise.figures import RunFigures
from benchmarks.noise.gc_activity import GcGeneration
from benchmarks.noise.pg_activity import PgCounters
from benchmarks.noise.sampler import CpuPressure, NoiseSample, RunQueueWait
from benchmarks.noise.sweeps import (
    GridStep,
    StepNoise,
    below_capacity,
    correlations,
    halves,
    main,
    markdown,
    stacks,
    steps_of,
)


def test_a_noise_sample_reads_back_as_a_step_wrote_it() -> None:
    sample = NoiseSample(
        started_at=1.0,
        duration_s=20.0,
        pressure=CpuPressure(True, stall_ms=900.0, stall_share=0.045, avg10_max=7.5),
        machine={"busy_percent": 61.0, "steal_percent": 0.1},
        run_queue={"posts-0": RunQueueWait(1, 5000.0, 800.0)},
        postgres={"posts": PgCounters(checkpoints_timed=1, wal_syncs=40, wal_sync_ms=12.5)},
        gc={"posts-0": {"gen2": GcGeneration(2, 80.0, 45.0, max_after_reset=True)}},
        problems=["moderation-0: no metrics"],
    )
    assert NoiseSample.from_json(json.loads(json.dumps(asdict(sample)))) == sample


def figures(rate: float, p99: float, block: int, **changes: object) -> RunFigures:
    base = RunFigures(
        variant="sweep",
        impl="sync",
        block=block,
        step=1,
        offered_rate=rate,
        achieved_rate=rate,
        p99_ms=p99,
        error_rate=0.0,
        generator_behind=False,
        generator_saturated=False,
        flags=[],
        stall_share=0.1,
        steal_percent=0.0,
        wait_services=100.0,
        wait_postgres=20.0,
        wait_bus=0.0,
        wait_generator=1.0,
        checkpoints=0,
        autovacuum_runs=0,
        wal_sync_ms_per_s=10.0,
        gc_max_pause_ms=5.0,
        gc_gen2_collections=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def step(
    rate: float,
    p99: float,
    rep: int,
    p50: float = 10.0,
    halves: tuple[float, float] | None = None,
    **changes: object,
) -> GridStep:
    return GridStep("sync", rep, figures(rate, p99, rep, **changes), p50, halves or (p99, p99))


def test_only_valid_steps_where_no_queue_builds_are_read_against_their_rate_median() -> None:
    steps = [
        step(100, 10.0, 1),
        step(100, 20.0, 2),
        step(100, 40.0, 3),
        step(100, 900.0, 3, flags=["a stall in the second half"]),
        # The median latency 4x the lowest rate's: a queue, not noise.
        step(300, 60.0, 1, p50=40.0),
        step(300, 80.0, 2, p50=40.0),
        step(300, 90.0, 3, p50=45.0),
    ]
    read = below_capacity("run", steps)
    assert [(s.repetition, s.excess) for s in read] == [(1, 0.5), (2, 1.0), (3, 2.0)]


def test_a_source_that_rises_with_the_excess_at_every_rate_correlates() -> None:
    # At each rate the stack with the longest GC pause has the highest tail; the rate itself
    # (more GC at 200/s than at 100/s everywhere) must not count.
    steps = [
        step(100, 10.0, 1, gc_max_pause_ms=5.0),
        step(100, 20.0, 2, gc_max_pause_ms=9.0),
        step(100, 30.0, 3, gc_max_pause_ms=30.0),
        step(200, 10.0, 1, p50=15.0, gc_max_pause_ms=50.0),
        step(200, 25.0, 2, p50=15.0, gc_max_pause_ms=60.0),
        step(200, 45.0, 3, p50=15.0, gc_max_pause_ms=90.0),
    ]
    read = below_capacity("run", steps)
    table = {c.source: c for c in correlations(read)}
    assert table["gc_max_pause_ms"].rho == pytest.approx(1.0)
    assert table["gc_max_pause_ms"].pairs == 6
    assert table["checkpoints"].rho is None  # the same at every step: says nothing
    rows = stacks(read)
    assert [(r.repetition, r.steps) for r in rows] == [(1, 2), (2, 2), (3, 2)]
    assert rows[2].excess == pytest.approx((30 / 20 + 45 / 25) / 2)
    assert rows[2].sources["gc_max_pause_ms"] == pytest.approx(60.0)
    text = markdown(read, ["run"])
    assert "| sync | " in text and "| run | sync | 3 | 2 | 1.65 |" in text


def test_steps_of_different_runs_are_centred_on_their_own_run() -> None:
    a = StepNoise("a", "sync", 1, figures(100, 10.0, 1, wait_services=100.0), 1.0)
    b = StepNoise("b", "sync", 1, figures(100, 10.0, 1, wait_services=900.0), 1.0)
    rows = stacks([a, b])
    assert [(r.run_id, r.sources["wait_services"]) for r in rows] == [("a", 100.0), ("b", 900.0)]


def test_a_directory_without_noise_records_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"{tmp_path}: no summary.json (not a finished lab bench run)"
    )


ROOT = Path(__file__).resolve().parents[2]
TABLES = sorted((ROOT / "docs" / "measurements").rglob("TAIL-*.md"))


@pytest.mark.parametrize("committed", TABLES, ids=lambda p: p.name)
def test_the_committed_tail_tables_regenerate_from_their_runs(committed: Path) -> None:
    text = committed.read_text()
    found = re.search(r"Generated by `python -m benchmarks\.noise\.sweeps ([^`]+)`", text)
    assert found, f"{committed.name} does not say which runs it was generated from"
    paths = found.group(1).split()
    steps, counts = steps_of([ROOT / p for p in paths])
    assert markdown(steps, paths, counts) == text


def test_worse_halves_are_counted_where_no_queue_builds() -> None:
    steps = [
        step(100, 60.0, 1, halves=(120.0, 30.0), flags=["not stationary"]),
        step(100, 20.0, 2, halves=(20.0, 21.0)),
        step(100, 50.0, 3, halves=(24.0, 50.0)),  # over 2x: the second half
        step(200, 40.0, 1, p50=12.0, halves=(90.0, 40.0)),
        step(400, 900.0, 1, p50=300.0, halves=(100.0, 900.0)),  # a queue: not counted
    ]
    (count,) = halves("run", steps)
    assert (count.steps, count.first_worse, count.second_worse) == (4, 2, 1)
    assert "| run | sync | 4 | 2 | 1 |" in markdown([], ["run"], [count])
