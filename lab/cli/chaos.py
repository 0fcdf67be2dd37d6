"""`lab chaos`: chaos experiments (real faults under load, run by Chaos Toolkit) per
implementation and fault, or the whole catalogue as the blast-radius matrix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lab.chaos.profiles import PROFILES
from lab.cli.common import CliError, SubParsers
from lab.stack.faults import FaultError, applies, parse_fault, split_faults
from lab.stack.topology import IMPLS

DEFAULT_DOSES = "0,10,50,200,1000"


def run(args: argparse.Namespace) -> int:
    # Imported here: the runner loads asyncpg, psutil and the benchmark suite.
    from lab.chaos.suite import ChaosConfig, run_chaos, table

    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    if not impls or any(i not in IMPLS for i in impls):
        raise CliError(f"--impl: choose from {list(IMPLS)}, got {args.impl!r}")
    if args.profile not in PROFILES:
        raise CliError(f"--profile: choose from {sorted(PROFILES)}, got {args.profile!r}")
    if args.repeat < 0:
        raise CliError(f"--repeat: a count of repetitions, 0 for the profile's; got {args.repeat}")
    if args.dose_response:
        if args.fault or args.matrix or args.gray_matrix:
            raise CliError("--dose-response runs one fault at each --doses: no --fault, --matrix")
        return run_dose_response(args, impls)
    if args.doses is not None:
        raise CliError("--doses goes with --dose-response FAULT")
    faults = split_faults(args.fault or "")
    if bool(faults) + bool(args.matrix) + bool(args.gray_matrix) != 1:
        raise CliError(
            "give --fault FAULT[,FAULT...], --matrix (a kill of every component) or "
            "--gray-matrix (every component slowed, every call cut)"
        )
    for text in faults:
        refusals = []
        for impl in impls:
            try:
                parse_fault(text, impl)
            except FaultError as error:
                refusals.append(str(error))
        if len(refusals) == len(impls):  # applies to none of them: say why
            raise CliError(f"--fault: {refusals[0]}")
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


def run_dose_response(args: argparse.Namespace, impls: list[str]) -> int:
    from lab.chaos.dose_response import DoseResponseConfig, dosed, run_dose_response, table

    try:
        doses = [float(d) for d in (args.doses or DEFAULT_DOSES).split(",") if d.strip()]
    except ValueError:
        raise CliError(f"--doses: numbers like {DEFAULT_DOSES}, got {args.doses!r}") from None
    if not doses:
        raise CliError(f"--doses: numbers like {DEFAULT_DOSES}")
    try:
        for dose in doses:
            text = dosed(args.dose_response, dose)
            if not any(applies(text, impl) for impl in impls):
                parse_fault(text, impls[0])  # raises, saying why it applies to none
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
    )
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
        "postmaster and its backends), kill:SVC, freeze:SVC (every replica), kill-bus (async); "
        "gray faults on the links (every experiment's stack has its fault proxies): "
        "slow-db:SVC[:MS], slow:SVC[:MS], slow-bus[:MS], partition:A,B (blackhole), "
        "partition-reset:A,B, lossy:A,B[:PCT] (connections reset), packet-loss:A,B[:PCT] "
        "(nftables), a part being a service, db:SVC, bus or clients (`lab fault --help`).",
    )
    chaos.add_argument("--impl", default="sync,async", help="sync, async or sync,async")
    chaos.add_argument(
        "--fault",
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
        help=f"--dose-response: the doses, in the fault's unit (default {DEFAULT_DOSES})",
    )
    chaos.add_argument(
        "--matrix",
        action="store_true",
        help="every database, every service and the bus: the blast-radius matrix",
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
        default="quick",
        help="phase lengths and load: smoke (CI, seconds), quick (default), full",
    )
    chaos.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="repetitions of every experiment, the implementations interleaved (default: the "
        "profile's: smoke and quick 1, full 3); the matrix pools them",
    )
    chaos.add_argument("--seed", type=int, default=1, help="random seed of the load")
    chaos.add_argument(
        "--causality",
        choices=["refuse", "wait", "accept"],
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
