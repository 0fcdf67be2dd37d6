"""`lab bench`: the benchmark suite, from its options to a BenchConfig, a run and its table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.load.scenarios import SCENARIOS
from benchmarks.policies.config import POLICIES
from benchmarks.suite.context import BenchConfig
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.table import table
from lab.cli.bounds import number, one_or_more, parsed
from lab.cli.common import (
    DEFAULT_DATA_ROOT,
    FAULT,
    IMPLEMENTATIONS,
    CliError,
    SubParsers,
    fault_texts,
    faults_apply,
    find_stack_file,
    observability_options,
    observed,
)
from lab.cli.up import BUS_NODES, REPLICA_COUNT

if TYPE_CHECKING:
    from benchmarks.policies.config import CausalityConfig

NO_LOAD = "none"  # --scenario with --causality: the probes alone; --causality-faults: none


def faults_or_none(text: str) -> list[str]:
    return [NO_LOAD] if text.strip() == NO_LOAD else fault_texts(text)


FAULTS_OR_NONE = parsed(faults_or_none, f"{FAULT.allowed}, several with commas, or {NO_LOAD}")


def bench_config(args: argparse.Namespace) -> BenchConfig:
    """The options of `lab bench` (each checked as it was parsed), checked together, as the
    suite's configuration."""
    if args.attach and len(args.impl) != 1:
        raise CliError("--attach runs against one stack: give one --impl")
    capacity_only = bool(args.scenario) and NO_LOAD in args.scenario
    if capacity_only and args.scenario != [NO_LOAD]:
        raise CliError(f"--scenario {NO_LOAD}: alone, not with other scenarios")
    if capacity_only and (args.no_sweep or args.closed_loop):
        raise CliError(
            f"--scenario {NO_LOAD} runs the capacity sweep alone: not with --no-sweep or "
            "--closed-loop (nothing would run)"
        )
    if capacity_only and (
        args.replicas or len(args.bus_nodes) > 1 or len(args.trace_sample or []) > 1
    ):
        raise CliError(
            f"--scenario {NO_LOAD}: --replicas, several --bus-nodes and several --trace-sample "
            "shares measure a scenario's load"
        )
    if args.replicas and (args.attach or args.closed_loop):
        raise CliError("--replicas starts its own stacks in open loop: no --attach, --closed-loop")
    samples = args.trace_sample or []
    if len(set(samples)) != len(samples):
        raise CliError("--trace-sample: a share given twice")
    if len(samples) > 1 and (args.attach or args.closed_loop or args.replicas):
        raise CliError("--trace-sample with several shares: open loop, no --attach, --replicas")
    if args.attach and (args.prometheus or args.no_metrics):
        raise CliError(
            "--attach measures the stack as it runs: give --prometheus or --no-metrics to its "
            "`lab up`"
        )
    bus_nodes = args.bus_nodes
    if len(set(bus_nodes)) != len(bus_nodes):
        raise CliError(f"--bus-nodes: each count once, got {','.join(map(str, bus_nodes))}")
    if len(bus_nodes) > 1 and (
        args.impl != ["async"]
        or args.attach
        or args.closed_loop
        or args.replicas
        or len(samples) > 1
    ):
        raise CliError(
            "--bus-nodes N,N compares bus sizes: --impl async, open loop, no --attach, "
            "--replicas or several --trace-sample shares"
        )
    if bus_nodes != [1] and args.attach:
        raise CliError("--bus-nodes starts its stacks: not with --attach")
    if args.fault_proxies and (
        args.attach or args.replicas or len(bus_nodes) > 1 or len(samples) > 1
    ):
        raise CliError(
            "--fault-proxies runs the suite on its own stacks: no --attach, --replicas, several "
            "--bus-nodes or several --trace-sample shares"
        )
    config = BenchConfig(
        impls=args.impl,
        profile=args.profile,
        scenarios=[] if capacity_only else args.scenario,
        rate=0.0 if args.closed_loop else args.rate,
        users=args.users,
        generators=args.generators,
        duration_s=args.duration,
        attach=attached(args.attach) if args.attach else None,
        results_dir=Path(args.results_dir),
        seed=args.seed,
        sweep=not args.no_sweep,
        bare_sweep=not args.no_bare_sweep,
        generator_priority=not args.no_generator_priority,
        replicas=args.replicas,
        repeat=args.repeat or 0,
        trace_sample=samples,
        bus_nodes=bus_nodes,
        fault_proxies=args.fault_proxies,
    )
    config.stack = observed(args, DEFAULT_DATA_ROOT / "prometheus" / config.run_id, print)
    return config


def run(args: argparse.Namespace) -> int:
    # Imported here: the suite loads asyncpg, SQLAlchemy, nats and psutil, which every other
    # `lab` command would otherwise pay for at start-up (0.18 -> 0.47 s for `lab view`).
    from benchmarks.suite import bus_nodes, replicas, trace_overhead
    from benchmarks.suite.suite import run_bench

    if args.causality:
        return run_causality(args)
    if args.exposition_cost is not None:
        return run_exposition_cost(args)

    from lab.trace.summary import overhead_breakdowns

    run_dir = run_bench(bench_config(args), overhead_breakdowns)
    summary = json.loads((run_dir / "summary.json").read_text())
    print()
    if summary.get("kind") == "trace":
        print(trace_overhead.table(summary))
        print(f"per-hop breakdown of the traced runs: lab trace {run_dir}")
    elif "replicas" in summary:
        print(replicas.table(summary["replicas"]))
    elif "bus_nodes" in summary:
        print(bus_nodes.table(summary["bus_nodes"]["runs"]))
    else:
        print(table(summary))
    print(f"results: {run_dir}")
    return 0


def attached(given: str) -> Path:
    """--attach's stack.json (or its directory), which must exist."""
    try:
        return find_stack_file(given)
    except CliError as error:
        raise CliError(f"--attach: {error}") from None


def run_exposition_cost(args: argparse.Namespace) -> int:
    """`--exposition-cost PAIRS`: runs with exposition off and on, alternated, compared."""
    from lab.cli.exposition_cost import run_exposition_cost as measure

    if args.prometheus or args.no_metrics or args.attach or args.replicas:
        raise CliError(
            "--exposition-cost runs both sides itself: no --prometheus, --no-metrics, --attach "
            "or --replicas"
        )
    args.scenario = args.scenario or ["mixed"]
    args.no_sweep = True
    args.repeat = args.repeat or 1
    args.prometheus = True  # the side with exposition is scraped by a real Prometheus
    base = bench_config(args)
    assert base.stack.prometheus is not None
    return measure(base, args.exposition_cost, base.stack.prometheus)


def causality_config(args: argparse.Namespace) -> CausalityConfig:
    """The options of `lab bench --causality`, checked, as the comparison's configuration."""
    from benchmarks.policies.config import CausalityConfig
    from lab.chaos.profiles import PROFILES as CHAOS_PROFILES

    impls = set(args.impl)
    if "async" not in impls or args.attach:
        raise CliError("--causality compares async's policies: async in --impl, and no --attach")
    chosen = args.scenario or ["mixed"]
    if len(chosen) != 1:
        raise CliError(f"--scenario with --causality: one of {sorted(SCENARIOS)}, or {NO_LOAD}")
    scenario: str | None = None if chosen[0] == NO_LOAD else chosen[0]
    if scenario and args.closed_loop:
        raise CliError("--causality measures the load in open loop: no --closed-loop")
    faults = [fault for fault in args.causality_faults if fault != NO_LOAD]
    faults_apply("--causality-faults", faults, sorted(impls))
    if faults and args.profile not in CHAOS_PROFILES:
        raise CliError(f"--profile with --causality-faults: one of {sorted(CHAOS_PROFILES)}")
    config = CausalityConfig(
        policies=args.causality,
        sync_reference="sync" in impls,
        probes=args.causality_probes,
        repeat=args.repeat or CausalityConfig.repeat,
        scenario=scenario,
        load_rate=args.rate,
        load_duration_s=args.duration or CausalityConfig.load_duration_s,
        seed=args.seed,
        faults=faults,
        chaos_profile=args.profile,
        results_dir=Path(args.results_dir),
    )
    config.stack = observed(args, DEFAULT_DATA_ROOT / "prometheus" / config.run_id, print)
    return config


def run_causality(args: argparse.Namespace) -> int:
    """`--causality P,P`: the read-your-writes comparison of the policies (and sync)."""
    from benchmarks.policies.compare import compare
    from benchmarks.policies.tables import table as causality_table
    from lab.chaos.policy_faults import FaultExperiments

    config = causality_config(args)
    runner = FaultExperiments(profile=config.chaos_profile, seed=config.seed, stack=config.stack)
    run_dir = compare(config, runner if config.faults else None)
    print()
    print(causality_table(json.loads((run_dir / "summary.json").read_text())))
    print(f"results: {run_dir}")
    return 0


def add_commands(sub: SubParsers) -> None:
    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite; write results/<run-id>/",
        description="Repetitions of the whole suite with the implementations interleaved "
        "(sync async, async sync, ...). In each, for each implementation: start its stack "
        "(unless --attach), seed data, measure the floor (bare gRPC hop, JetStream publish, "
        "INSERT+COMMIT), run each scenario under Locust in open loop (latency from the "
        "scheduled start, HDR histograms) and a bare chain of the same shape at the same rate, "
        "profile every service once (py-spy), sweep the offered rate for the capacity at the "
        "SLO (p99 <= 50 ms, errors <= 0.1%) of the implementation and of its bare chain, and "
        "sample cost. Writes raw data, meta.json and summary.json (every figure as median "
        "[min-max] over repetitions; sync vs async called a difference only when the ranges "
        "do not overlap).",
    )
    bench.add_argument(
        "--impl",
        type=IMPLEMENTATIONS,
        default="sync,async",
        help="implementations, comma-separated: sync, sync-resilient, async (default sync,async)",
    )
    bench.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help="smoke (CI), quick (default), full",
    )
    bench.add_argument(
        "--scenario",
        type=one_or_more((*SCENARIOS, NO_LOAD)),
        help="read_heavy,write_heavy,mixed,read_your_writes (default: the profile's); "
        f"{NO_LOAD}: the capacity sweep alone (and the floor); with --causality one of them, or "
        f"{NO_LOAD}",
    )
    bench.add_argument(
        "--rate",
        type=number(float, gt=0),
        default=50.0,
        help="open-loop offered rate, requests/s (default 50; ignored with --closed-loop)",
    )
    bench.add_argument(
        "--closed-loop",
        action="store_true",
        help="Locust's closed loop (users with think time) instead of open loop",
    )
    bench.add_argument(
        "--users",
        type=number(int, ge=0),
        default=0,
        help="Locust users (default: rate/10, at least 5; closed loop: 10)",
    )
    bench.add_argument(
        "--duration",
        type=number(float, gt=0),
        help="measured seconds per scenario run (default: the profile's)",
    )
    bench.add_argument(
        "--generators",
        type=number(int, ge=0),
        default=0,
        help="Locust processes (distributed mode); default 1, 2 from 300 req/s",
    )
    bench.add_argument("--attach", help="stack.json of a running `lab up` (one --impl)")
    bench.add_argument("--no-sweep", action="store_true", help="skip the capacity sweep")
    bench.add_argument(
        "--no-bare-sweep",
        action="store_true",
        help="sweep the implementation alone, not its bare chain too (less time, no share of "
        "the floor): for series of capacity runs",
    )
    bench.add_argument(
        "--no-generator-priority",
        action="store_true",
        help="run Locust in the lab's session at its priority, as before (default: a session "
        "of its own, reniced, real-time class where permitted: it stands in for a generator "
        "on a machine of its own; docs/METHOD.md, Load)",
    )
    bench.add_argument(
        "--replicas",
        type=one_or_more(REPLICA_COUNT),
        metavar="N,N,...",
        help="instead of the suite: the same load (--scenario, default write_heavy, at --rate) "
        "against N replicas of comments, moderation and query for each N, on fresh stacks; "
        "reports lag p50/p99, achieved rate and each replica's share of the work",
    )
    bench.add_argument(
        "--bus-nodes",
        type=one_or_more(BUS_NODES),
        default=[1],
        metavar="N[,N...]",
        help="async: nats-servers of the bus, 1 (default) or 3+ as one JetStream cluster with "
        "R3 streams and consumers; several counts (1,3): instead of the suite, the same load "
        "(--scenario, default write_heavy, at --rate) on a fresh stack per count, interleaved "
        "over --repeat runs: publish floor, CreatePost/CreateComment latency, visibility lag, "
        "CPU per 1,000 operations",
    )
    bench.add_argument(
        "--repeat",
        type=number(int, ge=1),
        help="repetitions of the whole suite, implementations interleaved (default: the "
        "profile's: smoke 1, quick 2, full 3); with --replicas or --bus-nodes N,N, runs per "
        "count (default 1)",
    )
    bench.add_argument(
        "--causality",
        type=one_or_more(POLICIES),
        metavar="POLICY,...",
        help="instead of the suite: read-your-writes across services (CreatePost, then at once "
        "CreateComment) under each async causality policy (refuse, wait, accept) and sync, on "
        "fresh stacks, interleaved over --repeat runs (default 2); on the same stack, the "
        "--scenario's load (default mixed; none: skip) at --rate for --duration (default 15 "
        "s); then each --causality-faults fault as a chaos experiment (phases of the chaos "
        "--profile: smoke, quick, full) per variant and run",
    )
    bench.add_argument(
        "--causality-probes",
        type=number(int, ge=1),
        default=150,
        help="--causality: pairs per run",
    )
    bench.add_argument(
        "--trace-sample",
        type=one_or_more(number(float, ge=0, le=1)),
        metavar="SHARE[,SHARE...]",
        help="one share: trace that share of requests in every stack and in the load "
        "generator (spans in rep-N/IMPL/traces; `lab trace RUN_ID`); several, e.g. 0,1: "
        "instead of the suite, what tracing costs: the same load (--scenario, default "
        "write_heavy, at --rate) on fresh stacks at each share, interleaved over --repeat runs "
        "(default 2), latency and the services' CPU per share against the first. Default off",
    )
    bench.add_argument(
        "--causality-faults",
        type=FAULTS_OR_NONE,
        metavar="FAULT,...",
        default="kill-db:comments,kill-bus",
        help="--causality: chaos faults each variant runs under, once per run (default "
        "kill-db:comments,kill-bus; none: skip)",
    )
    observability_options(bench)
    bench.add_argument(
        "--exposition-cost",
        type=number(int, ge=1),
        metavar="PAIRS",
        help="instead of the suite: what watching a run costs. PAIRS pairs of benchmark runs "
        "(default --scenario mixed at --rate 50, no sweep, --repeat 1 each), alternated, "
        "without any exposition (--no-metrics) and with every process scraped each second by "
        "a real Prometheus (--prometheus); then the two sides compared as `lab compare` does",
    )
    bench.add_argument(
        "--fault-proxies",
        action="store_true",
        help="run the stacks with their fault proxies on every link (as chaos experiments "
        "do): what they cost, compared by `lab compare` with runs without, taken in "
        "alternation (docs/METHOD.md, Gray faults)",
    )
    bench.add_argument(
        "--seed", type=number(int), default=1, help="random seed (recorded in meta.json)"
    )
    bench.add_argument("--results-dir", default="results", help="where runs are written")
    bench.set_defaults(run=run)
