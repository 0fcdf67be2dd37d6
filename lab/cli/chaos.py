"""`lab chaos`: chaos experiments (real faults under load, run by Chaos Toolkit) per
implementation and fault, or the whole catalogue as the blast-radius matrix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from blog.domain import CausalityPolicy
from lab.chaos.load import ENGINES
from lab.chaos.profiles import PROFILES
from lab.cli.bounds import number, one_or_more, setting
from lab.cli.common import (
    DEFAULT_DATA_ROOT,
    FAULTS,
    IMPLEMENTATIONS,
    CliError,
    SubParsers,
    faults_apply,
    observability_options,
    observed,
)
from lab.cli.up import add_bus_options
from lab.stack.faults import FaultError, applies, parse_fault


def capacity_from(args: argparse.Namespace) -> tuple[float, str]:
    """C for the overload experiment: --capacity, or plain sync's capacity estimate in a bench
    run (--capacity-from RUN_ID, or the newest run in --results-dir that has one)."""
    if args.capacity is not None:
        return float(args.capacity), args.capacity_source or "given"
    results = Path(args.results_dir)
    runs = [results / args.capacity_from] if args.capacity_from else sorted(results.glob("*"))
    for run_dir in reversed(runs):
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
            value = summary["aggregate"]["sync"]["capacity"]["mixed"]["implementation"]
            estimate = value["capacity"]
        except (OSError, ValueError, KeyError, TypeError):
            if args.capacity_from:
                raise CliError(
                    f"--capacity-from {args.capacity_from}: no capacity of plain sync in "
                    f"{run_dir / 'summary.json'}"
                ) from None
            continue
        if estimate["value"]:
            return float(estimate["value"]), run_dir.name
    raise CliError(
        f"--overload needs the capacity C of plain sync: give --capacity N (requests/s) or "
        f"--capacity-from RUN_ID; no bench run in {results} has one (lab bench measures it)"
    )


def run_overload_command(args: argparse.Namespace, impls: list[str]) -> int:
    from lab.chaos.overload.runner import OverloadConfig, run_overload

    bases, spike = args.base, args.spike
    if spike <= max(bases):
        raise CliError(f"--spike: {spike:g} C must be above every base rate ({max(bases):g} C)")
    if args.capacity_source is not None and args.capacity is None:
        raise CliError("--capacity-source says where a --capacity N came from: give --capacity")
    capacity, source = capacity_from(args)
    config = OverloadConfig(
        impls=impls,
        capacity=capacity,
        capacity_source=source,
        bases=bases,
        spike=spike,
        profile=args.profile,
        results_dir=Path(args.results_dir),
        seed=args.seed,
        keep_data=args.keep_data,
        generator=args.generator,
    )
    config.stack = observed(args, DEFAULT_DATA_ROOT / "prometheus" / config.run_id, print)
    run_dir = run_overload(config)
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"results: {run_dir}")
    if not summary["valid"]:
        failed = [f"{e['impl']}@{e['base']:g}" for e in summary["experiments"] if not e["valid"]]
        print(
            f"FAILED RUN: {', '.join(failed)} (lost writes, a failed action, or a generator "
            "that fell behind)"
        )
        return 1
    return 0


DEFAULT_DOSES = "0,10,50,200,1000"


def run(args: argparse.Namespace) -> int:
    impls, faults = args.impl, args.fault or []
    if args.overload:
        if faults or args.matrix or args.gray_matrix or args.dose_response:
            raise CliError(
                "--overload is an experiment of its own: no --fault, --matrix, --gray-matrix "
                "or --dose-response"
            )
        return run_overload_command(args, impls)
    if args.dose_response:
        if faults or args.matrix or args.gray_matrix:
            raise CliError("--dose-response runs one fault at each --doses: no --fault, --matrix")
        return run_dose_response(args, impls)
    if args.doses is not None:
        raise CliError("--doses goes with --dose-response FAULT")
    if bool(faults) + bool(args.matrix) + bool(args.gray_matrix) != 1:
        raise CliError(
            "give --fault FAULT[,FAULT...], --matrix (a kill of every component) or "
            "--gray-matrix (every component slowed, every call cut)"
        )
    faults_apply("--fault", faults, impls, args.bus_nodes)

    # Imported here: the runner loads asyncpg, psutil and the benchmark suite.
    from lab.chaos.suite import ChaosConfig, run_chaos, table

    config = ChaosConfig(
        impls=impls,
        faults=faults,
        matrix=args.matrix,
        gray_matrix=args.gray_matrix,
        profile=args.profile,
        results_dir=Path(args.results_dir),
        keep_data=args.keep_data,
        seed=args.seed,
        causality=args.causality,
        repeat=args.repeat,
        trace_sample=args.trace_sample,
        bus_nodes=args.bus_nodes,
    )
    config.stack = observed(args, DEFAULT_DATA_ROOT / "prometheus" / config.run_id, print)
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


def run_dose_response(args: argparse.Namespace, impls: list[str]) -> int:
    from lab.chaos.dose_response import DoseResponseConfig, dosed, run_dose_response, table

    doses: list[float] = args.doses or [float(d) for d in DEFAULT_DOSES.split(",")]
    try:
        for dose in doses:
            text = dosed(args.dose_response, dose)
            if not any(applies(text, impl, args.bus_nodes) for impl in impls):
                parse_fault(text, impls[0], args.bus_nodes)  # raises, saying why
    except FaultError as error:
        raise CliError(f"--dose-response: {error}") from None
    config = DoseResponseConfig(
        fault=args.dose_response,
        doses=doses,
        impls=impls,
        profile=args.profile,
        repeat=args.repeat,
        results_dir=Path(args.results_dir),
        keep_data=args.keep_data,
        seed=args.seed,
        bus_nodes=args.bus_nodes,
    )
    config.stack = observed(args, DEFAULT_DATA_ROOT / "prometheus" / config.run_id, print)
    run_dir = run_dose_response(config)
    summary = json.loads((run_dir / "summary.json").read_text())
    print()
    print(table(summary))
    print(f"results: {run_dir}")
    if not summary["valid"]:
        print("FAILED RUN: lost or unexpected writes, or a failed action (see the rows)")
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
        "postmaster and its backends), kill:SVC, freeze:SVC (every replica), kill-bus (async; "
        "every node), and with --bus-nodes 3 kill-bus-node:leader|follower and "
        "freeze-bus-node:leader|follower (one node of the bus cluster; the result records "
        "which, and the time until the event stream had a leader again); gray faults on the "
        "links (every experiment's stack has its fault proxies): slow-db:SVC[:MS], "
        "slow:SVC[:MS], slow-bus[:MS], partition:A,B (blackhole), partition-reset:A,B, "
        "lossy:A,B[:PCT] (connections reset), packet-loss:A,B[:PCT] (nftables), a part being "
        "a service, db:SVC, bus or clients (`lab fault --help`).",
    )
    chaos.add_argument(
        "--impl",
        type=IMPLEMENTATIONS,
        default="sync,async",
        help="implementations, comma-separated: sync, sync-resilient, async (default sync,async)",
    )
    chaos.add_argument(
        "--fault",
        type=FAULTS,
        help="e.g. kill-db:comments, kill:posts,kill-bus or slow-db:posts:200,"
        "partition:comments,posts (see `lab fault list`)",
    )
    chaos.add_argument(
        "--dose-response",
        metavar="FAULT",
        help="instead: one gray fault (e.g. slow-db:posts) at each of --doses, every --impl, "
        "interleaved; a table of each operation's p99 and availability during the fault, "
        "requests in flight and CPU per dose and variant (docs/METHOD.md, Gray faults)",
    )
    chaos.add_argument(
        "--doses",
        metavar="D,D,...",
        type=one_or_more(number(float, ge=0)),
        help=f"--dose-response: the doses, in the fault's unit (default {DEFAULT_DOSES})",
    )
    chaos.add_argument(
        "--matrix",
        action="store_true",
        help="every database, every service and the bus: the blast-radius matrix",
    )
    overload = chaos.add_argument_group(
        "overload",
        "--overload: a load spike instead of a fault (docs/METHOD.md, Overload): open loop at "
        "each base rate, a spike to --spike times C, back to the base; rates are multiples of "
        "C, plain sync's measured capacity, and recorded as requests/s",
    )
    overload.add_argument("--overload", action="store_true", help="run the overload experiment")
    overload.add_argument(
        "--base",
        type=one_or_more(number(float, gt=0)),
        default=[0.5, 0.9],
        help="base rates, multiples of C (default 0.5,0.9)",
    )
    overload.add_argument(
        "--spike", type=number(float, gt=0), default=2.0, help="the spike's rate, a multiple of C"
    )
    overload.add_argument(
        "--capacity",
        type=number(float, gt=0),
        help="C in requests/s (default: from the newest bench run)",
    )
    overload.add_argument(
        "--capacity-source",
        metavar="TEXT",
        help="with --capacity: where C comes from, as the run and the report will say it "
        "(default: given)",
    )
    overload.add_argument(
        "--capacity-from", metavar="RUN_ID", help="C from this bench run's plain sync capacity"
    )
    overload.add_argument(
        "--generator",
        choices=ENGINES,
        default="asyncio",
        help="the load's generator: asyncio (default: the same calls on grpc.aio, which keeps "
        "a spike's schedule on a small machine) or locust (every other experiment's; on 2 cores "
        "it falls behind a spike to 650/s)",
    )
    chaos.add_argument(
        "--gray-matrix",
        action="store_true",
        help="the blast-radius matrix of gray faults: every database, service and the bus "
        "slowed by 200 ms (slow-db, slow, slow-bus), every link between two services or a "
        "service and the bus held silent (partition)",
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
    add_bus_options(chaos, stream_replicas=False)
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
        "--trace-sample",
        type=setting("trace_sample"),
        metavar="SHARE",
        help="the services trace this share of requests (default off) into each "
        "experiment's traces/ (`lab trace RUN_ID`)",
    )
    chaos.add_argument(
        "--keep-data", action="store_true", help="keep each stack's data and logs (else removed)"
    )
    observability_options(chaos)
    chaos.add_argument("--results-dir", default="results", help="where runs are written")
    chaos.set_defaults(run=run)
