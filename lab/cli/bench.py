"""`lab bench`: the benchmark suite, from its options to a BenchConfig, a run and its table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.load.scenarios import SCENARIOS
from benchmarks.suite.context import BenchConfig
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.table import table
from blog.domain import CausalityPolicy
from lab.cli.common import CliError, SubParsers
from lab.stack.faults import FaultError, parse_fault
from lab.stack.topology import TOPOLOGY

if TYPE_CHECKING:
    from benchmarks.policies.compare import CausalityConfig

POLICIES = [p.value for p in CausalityPolicy]


def bench_config(args: argparse.Namespace) -> BenchConfig:
    """The options of `lab bench`, checked, as the suite's configuration."""
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    unknown = [i for i in impls if i not in TOPOLOGY]
    if unknown or not impls:
        raise CliError(f"--impl: choose from {sorted(TOPOLOGY)}, got {args.impl!r}")
    if args.attach and len(impls) != 1:
        raise CliError("--attach runs against one stack: give one --impl")
    if args.profile not in PROFILES:
        raise CliError(f"--profile: choose from {sorted(PROFILES)}")
    scenarios = [s.strip() for s in args.scenario.split(",")] if args.scenario else None
    unknown = [s for s in scenarios or [] if s not in SCENARIOS]
    if unknown:
        raise CliError(f"--scenario: unknown {unknown}; choose from {sorted(SCENARIOS)}")
    if args.rate <= 0 and not args.closed_loop:
        raise CliError("--rate must be positive (or use --closed-loop)")
    replicas = None
    if args.replicas:
        try:
            replicas = [int(n) for n in args.replicas.split(",") if n.strip()]
        except ValueError:
            raise CliError(
                f"--replicas: expected counts like 1,2,3, got {args.replicas!r}"
            ) from None
        if not replicas or min(replicas) < 1 or args.attach or args.closed_loop:
            raise CliError("--replicas: counts of 1 or more, open loop, and no --attach")
    if args.repeat is not None and args.repeat < 1:
        raise CliError("--repeat must be 1 or more")
    return BenchConfig(
        impls=impls,
        profile=args.profile,
        scenarios=scenarios,
        rate=0.0 if args.closed_loop else args.rate,
        users=args.users,
        generators=args.generators,
        duration_s=args.duration,
        attach=Path(args.attach) if args.attach else None,
        results_dir=Path(args.results_dir),
        seed=args.seed,
        sweep=not args.no_sweep,
        replicas=replicas,
        repeat=args.repeat or 0,
        fault_proxies=args.fault_proxies,
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: the suite loads asyncpg, SQLAlchemy, nats and psutil, which every other
    # `lab` command would otherwise pay for at start-up (0.18 -> 0.47 s for `lab view`).
    from benchmarks.suite import replicas
    from benchmarks.suite.suite import run_bench

    if args.causality:
        return run_causality(args)

    run_dir = run_bench(bench_config(args))
    summary = json.loads((run_dir / "summary.json").read_text())
    print()
    print(replicas.table(summary["replicas"]) if "replicas" in summary else table(summary))
    print(f"results: {run_dir}")
    return 0


def causality_config(args: argparse.Namespace) -> CausalityConfig:
    """The options of `lab bench --causality`, checked, as the comparison's configuration."""
    from benchmarks.policies.compare import CausalityConfig
    from lab.chaos.profiles import PROFILES as CHAOS_PROFILES

    impls = {i.strip() for i in args.impl.split(",") if i.strip()}
    policies = [p.strip() for p in args.causality.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies or "async" not in impls or args.attach:
        raise CliError(
            f"--causality: policies from {list(POLICIES)} (got {args.causality!r}), "
            "with async in --impl and no --attach"
        )
    scenario: str | None = (args.scenario or "mixed").strip()
    if scenario == "none":
        scenario = None
    elif scenario not in SCENARIOS:
        raise CliError(f"--scenario with --causality: one of {sorted(SCENARIOS)}, or none")
    if scenario and (args.rate <= 0 or args.closed_loop):
        raise CliError("--causality measures the load in open loop: a positive --rate")
    text = args.causality_faults.strip()
    faults = [] if text in ("", "none") else [f.strip() for f in text.split(",") if f.strip()]
    for fault in faults:
        refusals = []
        for impl in sorted(impls):
            try:
                parse_fault(fault, impl)
            except FaultError as error:
                refusals.append(str(error))
        if len(refusals) == len(impls):
            raise CliError(f"--causality-faults: {refusals[0]}")
    if faults and args.profile not in CHAOS_PROFILES:
        raise CliError(f"--profile with --causality-faults: one of {sorted(CHAOS_PROFILES)}")
    if args.repeat is not None and args.repeat < 1:
        raise CliError("--repeat must be 1 or more")
    return CausalityConfig(
        policies=policies,
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


def run_causality(args: argparse.Namespace) -> int:
    """`--causality P,P`: the read-your-writes comparison of the policies (and sync)."""
    from benchmarks.policies import compare as causality
    from lab.chaos.policy_faults import FaultExperiments

    config = causality_config(args)
    runner = FaultExperiments(profile=config.chaos_profile, seed=config.seed)
    run_dir = causality.compare(config, runner if config.faults else None)
    print()
    print(causality.table(json.loads((run_dir / "summary.json").read_text())))
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
    bench.add_argument("--impl", default="sync,async", help="sync, async or sync,async")
    bench.add_argument("--profile", default="quick", help="smoke (CI), quick (default), full")
    bench.add_argument(
        "--scenario", help="read_heavy,write_heavy,mixed,read_your_writes (default: the profile's)"
    )
    bench.add_argument(
        "--rate", type=float, default=50.0, help="open-loop offered rate, requests/s (default 50)"
    )
    bench.add_argument(
        "--closed-loop",
        action="store_true",
        help="Locust's closed loop (users with think time) instead of open loop",
    )
    bench.add_argument(
        "--users",
        type=int,
        default=0,
        help="Locust users (default: rate/10, at least 5; closed loop: 10)",
    )
    bench.add_argument("--duration", type=float, help="measured seconds per scenario run")
    bench.add_argument(
        "--generators",
        type=int,
        default=0,
        help="Locust processes (distributed mode); default 1, 2 from 300 req/s",
    )
    bench.add_argument("--attach", help="stack.json of a running `lab up` (one --impl)")
    bench.add_argument("--no-sweep", action="store_true", help="skip the capacity sweep")
    bench.add_argument(
        "--replicas",
        metavar="N,N,...",
        help="instead of the suite: the same load (--scenario, default write_heavy, at --rate) "
        "against N replicas of comments, moderation and query for each N, on fresh stacks; "
        "reports lag p50/p99, achieved rate and each replica's share of the work",
    )
    bench.add_argument(
        "--repeat",
        type=int,
        help="repetitions of the whole suite, implementations interleaved (default: the "
        "profile's: smoke 1, quick 2, full 3); with --replicas, runs per count (default 1)",
    )
    bench.add_argument(
        "--causality",
        metavar="POLICY,...",
        help="instead of the suite: read-your-writes across services (CreatePost, then at once "
        "CreateComment) under each async causality policy (refuse, wait, accept) and sync, on "
        "fresh stacks, interleaved over --repeat runs (default 2); on the same stack, the "
        "--scenario's load (default mixed; none: skip) at --rate for --duration (default 15 "
        "s); then each --causality-faults fault as a chaos experiment (phases of the chaos "
        "--profile: smoke, quick, full) per variant and run",
    )
    bench.add_argument(
        "--causality-probes", type=int, default=150, help="--causality: pairs per run"
    )
    bench.add_argument(
        "--causality-faults",
        metavar="FAULT,...",
        default="kill-db:comments,kill-bus",
        help="--causality: chaos faults each variant runs under, once per run (default "
        "kill-db:comments,kill-bus; none: skip)",
    )
    bench.add_argument(
        "--fault-proxies",
        action="store_true",
        help="run the stacks with their fault proxies on every link (as chaos experiments "
        "do): what they cost, compared by `lab compare` with runs without, taken in "
        "alternation (docs/METHOD.md, Gray faults)",
    )
    bench.add_argument("--seed", type=int, default=1, help="random seed (recorded in meta.json)")
    bench.add_argument("--results-dir", default="results", help="where runs are written")
    bench.set_defaults(run=run)
