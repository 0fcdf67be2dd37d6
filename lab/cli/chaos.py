"""`lab chaos`: chaos experiments (real faults under load, run by Chaos Toolkit) per
implementation and fault, or the whole catalogue as the blast-radius matrix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from blog.domain import CausalityPolicy
from lab.chaos.profiles import PROFILES
from lab.cli.bounds import number, one_or_more
from lab.cli.common import FAULT, IMPLEMENTATIONS, CliError, SubParsers, faults_apply


def run(args: argparse.Namespace) -> int:
    impls, faults = args.impl, args.fault or []
    if bool(faults) == bool(args.matrix):
        raise CliError("give --fault FAULT[,FAULT...] or --matrix (the whole catalogue)")
    faults_apply("--fault", faults, impls)

    # Imported here: the runner loads asyncpg, psutil and the benchmark suite.
    from lab.chaos.suite import ChaosConfig, run_chaos, table

    config = ChaosConfig(
        impls=impls,
        faults=faults,
        matrix=args.matrix,
        profile=args.profile,
        results_dir=Path(args.results_dir),
        keep_data=args.keep_data,
        seed=args.seed,
        causality=args.causality,
        repeat=args.repeat,
    )
    run_dir = run_chaos(config)
    summary = json.loads((run_dir / "summary.json").read_text())
    print()
    print(table(summary, impls))
    print(f"results: {run_dir}")
    if not summary["valid"]:
        failed = [f"{e['impl']} {e['fault']}" for e in summary["experiments"] if not e["valid"]]
        print(f"FAILED RUN: {', '.join(failed)} (lost or unexpected writes, or a failed action)")
        return 1
    return 0


def add_commands(sub: SubParsers) -> None:
    chaos = sub.add_parser(
        "chaos",
        help="chaos experiments: real faults under load; write results/<run-id>/",
        description="For each implementation and fault: start a fresh stack, seed it, start "
        "open-loop Locust load that logs every request, and let Chaos Toolkit run the "
        "experiment (steady state: every service serving and <= 0.1%% errors; inject the "
        "fault; hold; restore; observe; steady state again; rollbacks always restore "
        "everything). Then the audit (every acknowledged write in its owner's database and "
        "in the query view, exactly once) and the figures: per-second timeline, availability "
        "before/during/after, recovery time per operation, async convergence and catch-up. "
        "Faults: kill-db:SVC (SIGKILL of the postmaster), freeze-db:SVC (SIGSTOP of the "
        "postmaster and its backends), kill:SVC, freeze:SVC (every replica), kill-bus (async).",
    )
    chaos.add_argument(
        "--impl", type=IMPLEMENTATIONS, default="sync,async", help="sync, async or sync,async"
    )
    chaos.add_argument(
        "--fault",
        type=one_or_more(FAULT),
        help="e.g. kill-db:comments or kill:posts,kill-bus (see `lab fault list`)",
    )
    chaos.add_argument(
        "--matrix",
        action="store_true",
        help="every database, every service and the bus: the blast-radius matrix",
    )
    chaos.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help="phase lengths and load: smoke (CI, seconds), quick (default), full",
    )
    chaos.add_argument(
        "--repeat",
        type=number(int, ge=0),
        default=0,
        help="repetitions of every experiment, the implementations interleaved (default 0: the "
        "profile's: smoke and quick 1, full 3); the matrix pools them",
    )
    chaos.add_argument("--seed", type=number(int), default=1, help="random seed of the load")
    chaos.add_argument(
        "--causality",
        choices=[p.value for p in CausalityPolicy],
        help="async: how the comments service treats a comment on a post it has not heard of "
        "yet (default: the services' default; docs/METHOD.md, Causality across services). "
        "The policies side by side under faults: lab bench --causality refuse,wait,accept "
        "--causality-faults FAULT,...",
    )
    chaos.add_argument(
        "--keep-data", action="store_true", help="keep each stack's data and logs (else removed)"
    )
    chaos.add_argument("--results-dir", default="results", help="where runs are written")
    chaos.set_defaults(run=run)
