"""`lab bench`: the benchmark suite, from its options to a BenchConfig, a run and its table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.load.scenarios import SCENARIOS
from benchmarks.suite.context import BenchConfig
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.table import table
from labcli.common import CliError, SubParsers
from stack.topology import TOPOLOGY


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
    if args.repeat < 1:
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
        repeat=args.repeat,
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: the suite loads asyncpg, SQLAlchemy, nats and psutil, which every other
    # `lab` command would otherwise pay for at start-up (0.18 -> 0.47 s for `lab view`).
    from benchmarks.suite import replicas
    from benchmarks.suite.suite import run_bench

    run_dir = run_bench(bench_config(args))
    summary = json.loads((run_dir / "summary.json").read_text())
    print()
    print(replicas.table(summary["replicas"]) if "replicas" in summary else table(summary))
    print(f"results: {run_dir}")
    return 0


def add_commands(sub: SubParsers) -> None:
    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite; write results/<run-id>/",
        description="For each implementation: start its stack (unless --attach), seed data, "
        "measure the floor (bare gRPC hop, JetStream publish, INSERT+COMMIT), run each "
        "scenario under Locust in open loop (latency from the scheduled start, HDR "
        "histograms), sweep the offered rate for the capacity at the SLO (p99 <= 50 ms, "
        "errors <= 0.1%) of the implementation and of a bare chain of the same shape, "
        "sample cost, and write raw data, meta.json and summary.json.",
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
        "--repeat", type=int, default=1, help="--replicas: runs per count, interleaved"
    )
    bench.add_argument("--seed", type=int, default=1, help="random seed (recorded in meta.json)")
    bench.add_argument("--results-dir", default="results", help="where runs are written")
    bench.set_defaults(run=run)
