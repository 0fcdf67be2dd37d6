"""`lab bench`: run the benchmark suite and write results/<run-id>/ (docs/METHOD.md: Load,
Capacity, Cost, Calibration, Results and report).

Repetitions of everything, the implementations interleaved (sync async, async sync, ...: the
machine's drift hits both sides alike). In each repetition, for each implementation: start its
stack (unless --attach) and a bare chain of the same shape beside it, seed data, calibrate the
floor, run each scenario under Locust (open loop by default) and the bare chain at the same
rate, profile the services' CPU once, sweep the offered rate for the capacity at the SLO of
both, sample cost, read the async visibility lag, stop everything. Everything measured is
written raw (HDR histograms, Locust CSVs, generator files, profiles) under rep-<n>/<impl>/,
beside a summary.json (each repetition, and every figure as its spread over them) and a
meta.json describing the machine and the code.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import cast

from benchmarks.floor import calibration
from benchmarks.floor.bare_chain import BareChain
from benchmarks.load.scenarios import SCENARIOS
from benchmarks.profiling.stack_profile import StackProfiler
from benchmarks.suite import aggregate, bus_nodes, trace_overhead
from benchmarks.suite.context import BenchConfig, Load, RunContext, say
from benchmarks.suite.driver import run_locust, users_for
from benchmarks.suite.measured import measured_run
from benchmarks.suite.overhead import pattern_overhead
from benchmarks.suite.profiles import PROFILES, RYW_MAX_RATE
from benchmarks.suite.replicas import replica_comparison
from benchmarks.suite.results import (
    ImplResult,
    LatencySummary,
    MeasuredRun,
    Profiled,
    Repetition,
    ScenarioCapacity,
    SummaryDocument,
)
from benchmarks.suite.seeding import seed
from benchmarks.suite.sweep import capacities
from lab.runs.rundir import Kind, Meta, RunDir
from lab.stack.runner import fresh_stack
from lab.stack.stackfile import StackInfo, load_stack_file

# Writes a tracing run's per-hop breakdowns (share -> their directory's name), given the run's
# directory and its shares: lab.trace's, passed in by the command, since it sits above this layer.
HopBreakdowns = Callable[[Path, list[float]], dict[str, str]]


def run_bench(config: BenchConfig, hop_breakdowns: HopBreakdowns | None = None) -> Path:
    """The suite `config` asks for, in a run directory of its own; returns that directory."""
    profile = PROFILES[config.profile]
    overhead = len(config.trace_sample) > 1  # what tracing costs, instead of the suite
    comparing_buses = len(config.bus_nodes) > 1  # what R3 costs, instead of the suite
    kind: Kind = "trace" if overhead else "replicas" if config.replicas else "bench"
    run = RunDir.create(
        config.results_dir,
        "bus-nodes" if comparing_buses else kind,
        asdict(config),
        run_id=config.run_id,
        profile=asdict(profile),
        seed=config.seed,
    )
    say(config, f"results -> {run.path}")
    if overhead:
        traced_runs = trace_overhead.compare(config, run.path)
        breakdowns = hop_breakdowns(run.path, config.trace_sample) if hop_breakdowns else {}
        run.write_summary(
            trace_overhead.document(config, run.meta["machine"], traced_runs, breakdowns)
        )
        run.finish()
        return run.path
    if config.replicas:
        runs = replica_comparison(config, run.path)
        run.write_summary({"run_id": run.run_id, "machine": run.meta["machine"], "replicas": runs})
        run.finish()
        return run.path
    if comparing_buses:
        bus_runs = bus_nodes.bus_nodes_comparison(config, run.path)
        figures = bus_nodes.figures(bus_runs)
        run.write_summary(
            {
                "run_id": run.run_id,
                "machine": run.meta["machine"],
                "bus_nodes": {"runs": bus_runs, "figures": figures},
            }
        )
        run.finish()
        return run.path
    count = config.repeat or profile.repetitions
    reps: list[Repetition] = []
    grids: dict[str, list[float]] = {}  # the capacity grids, chosen in the first repetition
    for rep in range(1, count + 1):
        # Counterbalanced (A B, B A, ...): neither side always runs on the warmer machine.
        order = list(config.impls) if rep % 2 else list(reversed(config.impls))
        say(config, f"== repetition {rep}/{count}: {', then '.join(order)}")
        results = {
            impl: bench_impl(impl, config, run.path / f"rep-{rep}", rep, grids) for impl in order
        }
        reps.append({"rep": rep, "order": order, "impls": results})
        # After every repetition: an interrupted run keeps what it measured.
        run.write_summary(summarize(config, run.meta, reps))
    run.finish()
    return run.path


def summarize(config: BenchConfig, meta: Meta, reps: list[Repetition]) -> SummaryDocument:
    """summary.json: the repetitions, and every figure as its spread over them."""
    measured = {impl: aggregate.per_impl(reps, impl) for impl in config.impls}
    figures = {impl: aggregate.aggregate(results) for impl, results in measured.items() if results}
    document: SummaryDocument = {
        "run_id": config.run_id,
        "machine": meta["machine"],
        "profile": config.profile,
        "repetitions": len(reps),
        "reps": reps,
        "aggregate": figures,
        "comparisons": aggregate.comparisons(figures, reps),
        "targets": aggregate.targets(figures),
    }
    if overhead := pattern_overhead(reps):
        document["pattern_overhead"] = overhead
    return document


def traced(config: BenchConfig, impl_dir: Path) -> tuple[float, Path | None]:
    """The share of requests the suite traces (--trace-sample with one value) and where the
    traces of this implementation's run go (impl_dir/traces: `lab trace` finds them)."""
    sample = config.trace_sample[0] if len(config.trace_sample) == 1 else 0.0
    return sample, (impl_dir / "traces" if sample > 0 else None)


@contextmanager
def stack_under_test(
    impl: str, config: BenchConfig, run_dir: Path
) -> Iterator[tuple[StackInfo, Path]]:
    """The stack's stack.json (contents and path): --attach's, or a fresh stack's, stopped after.
    `run_dir`: this implementation's directory (its traces go there, when traced)."""
    if config.attach:
        stack_file = config.attach
        stack = load_stack_file(stack_file)
        if stack["impl"] != impl:
            raise SystemExit(f"--attach {stack_file} is a {stack['impl']} stack, not {impl}")
        yield stack, stack_file
        return
    say(config, f"[{impl}] starting the stack ...")
    sample, trace_dir = traced(config, run_dir)
    options = replace(
        config.stack,
        trace_sample=sample or None,
        trace_dir=trace_dir,
        bus_nodes=config.bus_nodes[0],
        fault_proxies=config.fault_proxies,
    )
    with fresh_stack(impl, options) as fresh:
        yield fresh.describe(), fresh.stack_file
        say(config, f"[{impl}] stopping the stack")


def bench_impl(
    impl: str, config: BenchConfig, rep_dir: Path, rep: int, grids: dict[str, list[float]]
) -> ImplResult:
    """One implementation in one repetition. `grids`: the capacity grids the first repetition's
    pilots chose (filled by it, reused by the others)."""
    profile = PROFILES[config.profile]
    impl_dir = rep_dir / impl
    impl_dir.mkdir(parents=True, exist_ok=True)
    with stack_under_test(impl, config, impl_dir) as (stack, stack_file):
        rng = random.Random(config.seed)
        say(config, f"[{impl}] seeding {profile.seed_posts} posts ...")
        seed_file = impl_dir / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(stack, profile.seed_posts, rng)))
        sample, trace_dir = traced(config, impl_dir)
        ctx = RunContext(impl, stack, stack_file, impl_dir, seed_file, config, sample, trace_dir)

        say(config, f"[{impl}] calibrating the floor ({profile.calibration_n} calls per part) ...")
        parts = calibration.calibrate(stack, impl_dir, impl_dir, profile.calibration_n)
        (impl_dir / "calibration.json").write_text(json.dumps(parts, indent=2))
        floors = calibration.floors(impl, parts)

        with bare_chain_beside(ctx) as routes:
            runs = scenario_runs(ctx, floors, routes, cpu_profile=rep == 1 and profile.cpu_profile)
            capacity: dict[str, ScenarioCapacity] = {}
            if config.sweep and config.rate > 0 and profile.sweep_scenarios:
                capacity = capacities(ctx, routes, grids, random.Random(config.seed * 1000 + rep))
        return {
            "impl": impl,
            "stack": {"services": stack["services"]},
            "calibration_ms": {name: without_hdr(part) for name, part in parts.items()},
            "floors_ms": floors,
            "runs": runs,
            "capacity": capacity,
        }


@contextmanager
def bare_chain_beside(ctx: RunContext) -> Iterator[Path]:
    """A bare chain of the same shape (benchmarks/floor/bare_chain.py) beside the stack, using
    its databases; yields its routes file for the generator (--lab-bare), stopped after."""
    ctx.say(f"[{ctx.impl}] starting a bare chain of the same shape (for comparison)")
    bare = BareChain(ctx.stack, ctx.impl_dir)
    bare.start()
    try:
        routes = ctx.impl_dir / "bare-chain-routes.json"
        routes.write_text(json.dumps(bare.routes(ctx.impl)))
        yield routes
    finally:
        bare.stop()


def without_hdr(part: calibration.CalibrationPart) -> LatencySummary:
    """A calibration part's timings (its raw histogram is in calibration.json)."""
    return cast(LatencySummary, {k: v for k, v in part.items() if k != "hdr"})


def scenario_runs(
    ctx: RunContext, floors: dict[str, float], routes: Path, cpu_profile: bool
) -> dict[str, MeasuredRun]:
    """One measured run per scenario at the configured rate, each compared with the floor and
    with the bare chain driven at the same rate right after it (docs/METHOD.md, Calibration)."""
    config, profile = ctx.config, ctx.profile
    runs: dict[str, MeasuredRun] = {}
    duration = config.duration_s or profile.duration_s
    bare_ops = set(json.loads(routes.read_text())["plans"])
    for scenario in profile.scenarios if config.scenarios is None else config.scenarios:
        rate = config.rate
        if scenario == "read_your_writes" and rate > RYW_MAX_RATE:
            rate = RYW_MAX_RATE
        users = users_for(rate, config.users)
        label = f"{scenario}@{rate:g}" if rate > 0 else f"{scenario}@closed-{users}"
        how = f"{users} users" if rate <= 0 else "open loop"
        ctx.say(f"[{ctx.impl}] {label}: {how}, {profile.warmup_s:g}+{duration:g} s")
        load = Load(scenario, rate, users, duration, profile.warmup_s)
        run = runs[label] = measured_run(ctx, load, ctx.impl_dir / label)
        run["vs_floor"] = {
            op: round(o["latency_ms"]["p50_ms"] / floors[op], 3)
            for op, o in run["operations"].items()
            if op in floors and o["latency_ms"].get("count")
        }
        if rate > 0 and set(SCENARIOS[scenario]) <= bare_ops:
            ctx.say(f"[{ctx.impl}] {label} on the bare chain of the same shape")
            bare_load = Load(scenario, rate, users, duration, profile.warmup_s, routes)
            bare = run_locust(ctx, bare_load, ctx.impl_dir / label / "bare-chain")
            run["bare_chain"] = bare
            run["vs_bare_chain"] = {
                op: round(o["latency_ms"]["p50_ms"] / b["latency_ms"]["p50_ms"], 3)
                for op, o in run["operations"].items()
                if (b := bare["operations"].get(op))
                and b["latency_ms"].get("p50_ms")
                and o["latency_ms"].get("p50_ms")
            }
        if cpu_profile:
            cpu_profile = False  # one profiled run per implementation: the first scenario's
            run["profile"] = profiled_run(ctx, load, ctx.impl_dir / label / "profile")
    return runs


def profiled_run(ctx: RunContext, load: Load, out: Path) -> Profiled:
    """The same load again with py-spy on every service process (docs/METHOD.md, Where the time
    goes). An extra run, so the sampling cannot touch the published latencies."""
    ctx.say(f"[{ctx.impl}] {load.scenario}@{load.rate:g} again, profiled (py-spy, every service)")
    profiler = StackProfiler(ctx.stack, out, load.warmup_s + load.duration_s)
    profiler.start()
    try:
        run_locust(ctx, load, out / "load")
    finally:
        profiled = profiler.finish()
    for problem in profiled["problems"]:
        ctx.say(f"      profile: {problem}")
    return profiled
