"""`lab bench`: run the benchmark suite and write results/<run-id>/ (docs/METHOD.md: Load,
Capacity, Cost, Calibration, Results and report).

For each implementation: start its stack (unless --attach), seed data, calibrate the floor,
run each scenario under Locust (open loop by default), sweep the offered rate to find the
capacity at the SLO, sample cost, read the async visibility lag, stop the stack. Everything
measured is written raw (HDR histograms, Locust CSVs, generator files) beside a summary.json
and a meta.json describing the machine and the code.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from benchmarks.floor import calibration
from benchmarks.suite.context import BenchConfig, Load, RunContext, say
from benchmarks.suite.driver import users_for
from benchmarks.suite.machine import machine_meta
from benchmarks.suite.measured import measured_run
from benchmarks.suite.profiles import PROFILES, RYW_MAX_RATE
from benchmarks.suite.replicas import replica_comparison
from benchmarks.suite.results import (
    ImplResult,
    ImplTargets,
    LatencySummary,
    MeasuredRun,
    MetaDocument,
    ScenarioCapacity,
    SummaryDocument,
    Targets,
)
from benchmarks.suite.seeding import seed
from benchmarks.suite.sweep import capacities
from stack.runner import Stack, StackConfig
from stack.stackfile import StackInfo, load_stack_file


def run_bench(config: BenchConfig) -> Path:
    profile = PROFILES[config.profile]
    run_dir = config.results_dir / config.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    started = datetime.now(UTC)
    meta: MetaDocument = {
        "run_id": config.run_id,
        "started_at": started.isoformat(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "profile": asdict(profile),
        "seed": config.seed,
        "machine": machine_meta(),
    }
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    say(config, f"results -> {run_dir}")
    if config.replicas:
        runs = replica_comparison(config, run_dir)
        meta["ended_at"] = datetime.now(UTC).isoformat()
        (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
        document = {"run_id": config.run_id, "machine": meta["machine"], "replicas": runs}
        (run_dir / "summary.json").write_text(json.dumps(document, indent=2))
        return run_dir
    results = {impl: bench_impl(impl, config, run_dir) for impl in config.impls}
    meta["ended_at"] = datetime.now(UTC).isoformat()
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    summary_doc: SummaryDocument = {
        "run_id": config.run_id,
        "machine": meta["machine"],
        "impls": results,
        "targets": targets(results),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary_doc, indent=2))
    return run_dir


@contextmanager
def stack_under_test(
    impl: str, config: BenchConfig, run_dir: Path
) -> Iterator[tuple[StackInfo, Path]]:
    """The stack's stack.json (contents and path): --attach's, or a fresh stack's, stopped after."""
    if config.attach:
        stack_file = config.attach
        stack = load_stack_file(stack_file)
        if stack["impl"] != impl:
            raise SystemExit(f"--attach {stack_file} is a {stack['impl']} stack, not {impl}")
        yield stack, stack_file
        return
    say(config, f"[{impl}] starting the stack ...")
    # Databases and service logs live outside results/ (a run keeps measurements, small enough
    # to commit) and are removed after the run.
    data_dir = Path(tempfile.mkdtemp(prefix=f"lab-bench-{impl}-"))
    stack_obj = Stack(StackConfig(impl=impl, data_dir=data_dir, fresh=True))
    try:
        stack_obj.start()
        yield load_stack_file(stack_obj.stack_file), stack_obj.stack_file
    finally:
        say(config, f"[{impl}] stopping the stack")
        stack_obj.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_impl(impl: str, config: BenchConfig, run_dir: Path) -> ImplResult:
    profile = PROFILES[config.profile]
    impl_dir = run_dir / impl
    impl_dir.mkdir(parents=True, exist_ok=True)
    with stack_under_test(impl, config, run_dir) as (stack, stack_file):
        rng = random.Random(config.seed)
        say(config, f"[{impl}] seeding {profile.seed_posts} posts ...")
        seed_file = impl_dir / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(stack, profile.seed_posts, rng)))
        ctx = RunContext(impl, stack, stack_file, impl_dir, seed_file, config)

        say(config, f"[{impl}] calibrating the floor ({profile.calibration_n} calls per part) ...")
        parts = calibration.calibrate(stack, impl_dir, impl_dir, profile.calibration_n)
        (impl_dir / "calibration.json").write_text(json.dumps(parts, indent=2))
        floors = calibration.floors(impl, parts)

        runs = scenario_runs(ctx, floors)
        capacity: dict[str, ScenarioCapacity] = {}
        if config.sweep and config.rate > 0 and profile.sweep_scenarios:
            capacity = capacities(ctx)
        return {
            "impl": impl,
            "stack": {"services": stack["services"]},
            "calibration_ms": {name: without_hdr(part) for name, part in parts.items()},
            "floors_ms": floors,
            "runs": runs,
            "capacity": capacity,
        }


def without_hdr(part: calibration.CalibrationPart) -> LatencySummary:
    """A calibration part's timings (its raw histogram is in calibration.json)."""
    return cast(LatencySummary, {k: v for k, v in part.items() if k != "hdr"})


def scenario_runs(ctx: RunContext, floors: dict[str, float]) -> dict[str, MeasuredRun]:
    """One measured run per scenario at the configured rate, each compared with the floor."""
    config, profile = ctx.config, ctx.profile
    runs: dict[str, MeasuredRun] = {}
    duration = config.duration_s or profile.duration_s
    for scenario in config.scenarios or profile.scenarios:
        rate = config.rate
        if scenario == "read_your_writes" and rate > RYW_MAX_RATE:
            rate = RYW_MAX_RATE
        users = users_for(rate, config.users)
        label = f"{scenario}@{rate:g}" if rate > 0 else f"{scenario}@closed-{users}"
        ctx.say(f"[{ctx.impl}] {label}: {users} users, {profile.warmup_s:g}+{duration:g} s")
        load = Load(scenario, rate, users, duration, profile.warmup_s)
        runs[label] = measured_run(ctx, load, ctx.impl_dir / label)
        runs[label]["vs_floor"] = {
            op: round(o["latency_ms"]["p50_ms"] / floors[op], 3)
            for op, o in runs[label]["operations"].items()
            if op in floors and o["latency_ms"].get("count")
        }
    return runs


def targets(results: dict[str, ImplResult]) -> Targets:
    """How close each run came to the goals of the benchmark issue (measured, never asserted)."""
    out: Targets = {
        "p50_over_floor_max": 1.3,
        "lag_p99_ms_max": 5.0,
        "capacity_share_of_bare_chain_min": 0.7,
    }
    for impl, r in results.items():
        ratios = {
            f"{label}/{op}": x
            for label, run in r["runs"].items()
            for op, x in run["vs_floor"].items()
        }
        lag = {
            label: visibility_lag_p99(run["visibility_lag_ms"])
            for label, run in r["runs"].items()
            if "visibility_lag_ms" in run
        }
        impl_targets: ImplTargets = {
            "p50_over_floor": ratios,
            "p50_within_1_3x_floor": all(x <= 1.3 for x in ratios.values()) if ratios else None,
            "generator_saturated_anywhere": any(
                run["generator_saturated"] for run in r["runs"].values()
            ),
            "visibility_lag_p99_ms": lag or None,
            "capacity_share_of_bare_chain": {
                scenario: cap["share_of_bare_chain"] for scenario, cap in r["capacity"].items()
            }
            or None,
        }
        out[impl] = impl_targets
    return out


def visibility_lag_p99(lag: dict[str, LatencySummary]) -> float | None:
    visible = lag.get("visibility_lag_us")
    return None if visible is None else visible.get("p99_ms")
