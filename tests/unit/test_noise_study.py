"""The noise study's pure parts: the pilot's SLO crossing, the interleaved blocks, each run's
figures, the spread and rank correlation, the generated tables and the command's options."""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import cast

import pytest

from async_impl.bus import EVENT_STREAM, in_memory, stream_configs
from benchmarks.noise.__main__ import main, parse_rates
from benchmarks.noise.figures import (
    RunFigures,
    RunOutcome,
    correlation,
    p99_spread,
    ranks,
    run_figures,
    spearman,
)
from benchmarks.noise.gc_activity import GcGeneration
from benchmarks.noise.pg_activity import PgCounters
from benchmarks.noise.plan import Pilot, PilotStep, blocks, rounds_for, slo_crossing
from benchmarks.noise.sampler import CpuPressure, NoiseSample, RunQueueWait
from benchmarks.noise.study import outcome
from benchmarks.noise.table import StudySummary, load_summary, markdown
from benchmarks.noise.variants import VARIANTS, Effect
from benchmarks.suite.results import RunSummary
from lab.runs.rundir import RunDir


def step(rate: float, p99: float | None, errors: float = 0.0) -> PilotStep:
    return PilotStep(rate, rate, p99, errors)


def test_the_slo_crossing_interpolates_log_p99_between_met_and_missed() -> None:
    rate, note = slo_crossing([step(100, 10), step(200, 25), step(300, 100)])
    # log(p99) from log 25 at 200 to log 100 at 300 reaches log 50 halfway.
    assert rate == pytest.approx(250.0)
    assert "200" in note and "300" in note


def test_the_slo_crossing_says_when_it_is_a_bound() -> None:
    assert slo_crossing([step(100, 10), step(200, 20)]) == (
        200,
        "never missed the SLO: a lower bound",
    )
    assert slo_crossing([step(100, 80)])[0] == 100
    assert slo_crossing([step(100, 10), step(200, 20, errors=0.5)])[0] == 100  # errors, not p99


def test_blocks_interleave_variants_and_implementations() -> None:
    variants = [VARIANTS[n] for n in ("baseline", "bus-memory", "gc-freeze")]
    plan = blocks(variants, ["sync", "async"], rounds=2)
    names = [(b.index, b.variant.name, b.impl) for b in plan]
    assert names[:5] == [
        (0, "baseline", "sync"),
        (0, "baseline", "async"),
        (0, "bus-memory", "async"),  # sync has no bus
        (0, "gc-freeze", "sync"),
        (0, "gc-freeze", "async"),
    ]
    assert [n[1] for n in names if n[0] == 1][0] == "bus-memory"  # the next round is rotated
    for variant in variants:
        for impl in [i for i in variant.impls if i in ("sync", "async")]:  # the impls planned
            assert sum(1 for b in plan if (b.variant, b.impl) == (variant, impl)) == 2
    assert rounds_for(6, 3) == 2 and rounds_for(7, 3) == 3 and rounds_for(1, 5) == 1


def test_every_variant_says_whether_it_changes_what_is_measured() -> None:
    same = {n for n, v in VARIANTS.items() if v.effect is Effect.NONE}
    assert same == {"baseline", "quiesce", "gc-freeze", "pin-generator", "shared-generator"}
    assert VARIANTS["sync-commit-off"].diagnosis_only and VARIANTS["bus-memory"].diagnosis_only
    assert VARIANTS["isolate-generator"].diagnosis_only


def test_ranks_share_ties_and_spearman_follows_the_order() -> None:
    assert ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # a constant side
    assert spearman([1, 2], [1, 2]) is None  # too few


def figures(variant: str, impl: str, p99: float | None, **changes: object) -> RunFigures:
    base = RunFigures(
        variant=variant,
        impl=impl,
        block=1,
        step=1,
        offered_rate=200.0,
        achieved_rate=199.0,
        p99_ms=p99,
        error_rate=0.0,
        generator_behind=False,
        generator_saturated=False,
        flags=[],
        stall_share=0.2,
        steal_percent=0.1,
        wait_services=0.5,
        wait_postgres=0.2,
        wait_bus=0.0,
        wait_generator=0.1,
        checkpoints=0,
        autovacuum_runs=1,
        wal_sync_ms_per_s=0.3,
        gc_max_pause_ms=2.0,
        gc_gen2_collections=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_spread_of_p99_and_what_makes_a_run_invalid() -> None:
    runs = [
        figures("baseline", "sync", 10.0),
        figures("baseline", "sync", 20.0),
        figures("baseline", "sync", 30.0, flags=["only 150 of 200 scheduled requests finished"]),
    ]
    spread = p99_spread(runs)
    assert (spread.runs, spread.invalid) == (3, 1)
    assert (spread.median_ms, spread.max_over_min) == (20.0, 3.0)
    assert spread.cv == pytest.approx(10.0 / 20.0)
    assert p99_spread([figures("b", "sync", None)]).median_ms is None


def test_a_run_s_figures_from_its_noise_sample() -> None:
    sample = NoiseSample(
        started_at=0.0,
        duration_s=10.0,
        pressure=CpuPressure(True, stall_ms=2500.0, stall_share=0.25, avg10_max=30.0),
        machine={"busy_percent": 90.0, "steal_percent": 0.5},
        run_queue={
            "posts-0": RunQueueWait(1, 100.0, 1000.0),
            "query-0": RunQueueWait(1, 100.0, 2000.0),
            "postgres-posts": RunQueueWait(5, 50.0, 500.0),
            "nats-server": RunQueueWait(1, 10.0, 100.0),
            "generator": RunQueueWait(2, 10.0, 300.0),
        },
        postgres={
            "posts": PgCounters(checkpoints_timed=1, autovacuum_runs=2, wal_sync_ms=40.0),
            "query": PgCounters(checkpoints_requested=1, autoanalyze_runs=1, wal_sync_ms=None),
        },
        gc={
            "posts-0": {
                "gen0": GcGeneration(50, 5.0, 0.3),
                "gen1": GcGeneration(5, 1.0, 0.5),
                "gen2": GcGeneration(1, 9.0, 9.0),
            },
            "query-0": {
                "gen0": GcGeneration(0, 0.0, None),
                "gen1": GcGeneration(0, 0.0, None),
                "gen2": GcGeneration(2, 4.0, 3.0),
            },
        },
    )
    outcome = RunOutcome(200.0, 198.0, 45.0, 0.0, False, False, [])
    run = run_figures("baseline", "async", 1, 2, outcome, sample)
    assert (run.wait_services, run.wait_postgres, run.wait_bus, run.wait_generator) == (
        300.0,
        50.0,
        10.0,
        30.0,
    )
    assert (run.checkpoints, run.autovacuum_runs, run.gc_gen2_collections) == (2, 3, 3)
    assert run.wal_sync_ms_per_s == 4.0 and run.gc_max_pause_ms == 9.0
    assert run.stall_share == 0.25 and run.steal_percent == 0.5 and run.valid


def summary_of(runs: list[RunFigures]) -> StudySummary:
    return StudySummary(
        run_id="20270101T000000Z",
        scenario="mixed",
        variants=["baseline", "quiesce"],
        impls=["sync", "async"],
        rates={"sync": 200.0, "async": 180.0},
        pilots={"sync": Pilot([step(100, 10), step(300, 90)], 250.0, "between", 200.0)},
        runs=runs,
        git_commit="abcdef0123456789",
        git_dirty=False,
        cpu_count=2,
        duration_s=20.0,
        steps_per_stack=3,
    )


def test_the_tables_are_generated_from_the_runs(tmp_path: Path) -> None:
    runs = [figures("baseline", "sync", p, checkpoints=1) for p in (10.0, 40.0, 20.0)]
    runs += [figures("quiesce", "sync", p, wait_postgres=p / 100) for p in (18.0, 20.0, 22.0)]
    runs += [figures("baseline", "async", 30.0)]
    summary = summary_of(runs)
    text = markdown(summary)
    assert (
        "| sync | baseline | the stack as the suite runs it | measures the same system | 3 (0)"
        in text
    )
    assert "20.0 [10.0-40.0]" in text and "| 4.00 |" in text  # median [min-max], max/min
    assert "the p99 moved least with quiesce" in text
    assert "| sync | baseline | 20.0 | 0.10 | 0.50 | 0.20 | 0.00 | 0.10 | 3 |" in text
    assert "async: fewer than 3 runs per variant" in text
    assert "Generated by `python -m benchmarks.noise`" in text and "abcdef012345" in text
    # summary.json -> the same tables (the command's --table regenerates NOISE.md).
    run = RunDir.create(tmp_path, "noise", {}, run_id=summary.run_id)
    run.write_summary(asdict(summary))
    assert markdown(load_summary(run.path)) == text
    assert main(["--table", str(run.path)]) == 0
    assert (run.path / "NOISE.md").read_text() == text


def test_correlation_pairs_only_runs_that_have_both() -> None:
    runs = [figures("b", "sync", p, gc_max_pause_ms=p / 10) for p in (1.0, 2.0, 3.0)]
    runs.append(figures("b", "sync", 4.0, gc_max_pause_ms=None))
    rho, n = correlation(runs, "gc_max_pause_ms")
    assert n == 3 and rho is not None and math.isclose(rho, 1.0)


def test_rates_are_auto_one_for_all_or_one_each() -> None:
    assert parse_rates("auto", ["sync"]) == {}
    assert parse_rates("250", ["sync", "async"]) == {"sync": 250.0, "async": 250.0}
    assert parse_rates("sync=300,async=200", ["sync", "async"]) == {"sync": 300.0, "async": 200.0}


@pytest.mark.parametrize(
    "argv",
    [
        ["--impl", "both"],
        ["--variants", "baseline,nope"],
        ["--rate", "sync=100"],
        ["--rate", "-5"],
        ["--scenario", "read_your_writes"],
        ["--repeat", "0"],
        ["--table", "/nonexistent"],
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_the_memory_event_stream_fits_the_server_s_memory_store() -> None:
    memory = in_memory(EVENT_STREAM)
    assert memory.storage is not None and memory.storage.value == "memory"
    assert memory.max_bytes is not None and memory.max_bytes < 256 * 1024**2
    assert memory.subjects == EVENT_STREAM.subjects
    # On a cluster too: the event stream in memory with the stack's replicas, dead letters on file.
    events, dead_letters = stream_configs(3, memory=True)
    assert events == replace(memory, num_replicas=3)
    assert dead_letters.storage is not None and dead_letters.storage.value == "file"


def test_a_run_is_judged_by_the_capacity_steps_rule() -> None:
    run = {
        "offered_rate": 100.0,
        "achieved_rate": 90.0,  # Poisson arrivals: below the offered rate by chance
        "latency_ms": {"p99_ms": 12.0},
        "error_rate": 0.0,
        "generator_behind": False,
        "generator_saturated": False,
        "generator_overflow": 0,
        "generator_lag_ms": {"p99_ms": 1.0},
        "arrivals": 900,
        "requests": 900,
        "halves_p99_ms": [11.0, 13.0],
    }
    assert outcome(cast(RunSummary, run)).flags == []
    run["requests"] = 800  # an eighth of what it scheduled never finished
    assert outcome(cast(RunSummary, run)).flags == ["only 800 of 900 scheduled requests finished"]
