"""`lab chaos`: experiments per implementation and fault, or the whole catalogue (the matrix),
written to results/<run-id>/ with meta.json and a summary.json (docs/METHOD.md, Coupling and
failure isolation)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.chaos.matrix import matrix
from lab.chaos.matrix import table as matrix_table
from lab.chaos.profiles import PROFILES
from lab.chaos.records import read_request_log
from lab.chaos.runner import ExperimentContext, experiment_dir, run_experiment
from lab.runs.rundir import RunDir
from lab.stack.config import StackOptions
from lab.stack.faults import Fault, applies, catalogue
from lab.stack.links import BUS
from lab.stack.topology import SERVICES

ROOT = Path(__file__).resolve().parents[2]
MATRIX_KINDS = ("kill-db", "kill", "kill-bus")  # freezes: by --fault
GRAY_DOSE_MS = 200.0  # the gray matrix's latency: four times the SLO's p99, under the deadline


@dataclass
class ChaosConfig:
    impls: list[str]
    faults: list[str]  # empty with matrix: every fault of each implementation's catalogue
    matrix: bool = False
    gray_matrix: bool = False  # every database, service and the bus slowed; every call cut
    profile: str = "quick"
    results_dir: Path = ROOT / "results"
    keep_data: bool = False
    seed: int = 1
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    causality: str | None = None  # async comments on posts not known yet; None: the default
    repeat: int = 0  # repetitions of every experiment; 0: the profile's
    trace_sample: float | None = None  # traced share of requests (the services'); None: off
    stack: StackOptions = field(default_factory=StackOptions)  # --no-metrics, --prometheus
    bus_nodes: int = 1  # async: nats-servers of the bus (3: a cluster; bus-node faults apply)
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def plan(config: ChaosConfig) -> list[tuple[int, str, str]]:
    """(repetition, impl, fault) in run order: per repetition and fault, every implementation in
    turn, their order reversed every other repetition (A B, B A), so drift over the run hits
    every implementation alike."""
    if config.matrix:  # one fault per component: every database, every service, the bus
        faults: list[str] = []
        for impl in config.impls:
            faults += [
                str(f)
                for f in catalogue(impl, config.bus_nodes)
                if f.kind in MATRIX_KINDS and str(f) not in faults
            ]
    elif config.gray_matrix:
        faults = []
        for impl in config.impls:
            faults += [f for f in gray_matrix(impl) if f not in faults]
    else:  # as written canonically (slow-db:posts@200ms is slow-db:posts:200)
        faults = [str(Fault.parse(f)) for f in config.faults]
    reps = config.repeat or PROFILES[config.profile].repetitions
    pairs = []
    for rep in range(1, reps + 1):
        order = config.impls if rep % 2 else list(reversed(config.impls))
        pairs += [
            (rep, impl, f) for f in faults for impl in order if applies(f, impl, config.bus_nodes)
        ]
    return pairs


def gray_matrix(impl: str) -> list[str]:
    """The gray faults of the matrix: each database and each service answering GRAY_DOSE_MS
    late, the bus too, and a blackhole on every link between two services or a service and
    the bus (what a partition between the parts looks like from each side)."""
    faults = []
    for fault in catalogue(impl):
        if fault.kind in ("slow-db", "slow", "slow-bus"):
            faults.append(str(replace(fault, dose=GRAY_DOSE_MS)))
        elif fault.kind == "partition" and fault.target in SERVICES:
            if fault.peer in SERVICES or fault.peer == BUS:  # a call, or the bus
                faults.append(str(fault))
    return faults


def run_chaos(config: ChaosConfig) -> Path:
    profile = PROFILES[config.profile]
    pairs = plan(config)
    run = RunDir.create(
        config.results_dir,
        "chaos",
        {
            "impls": config.impls,
            "faults": config.faults,
            "matrix": config.matrix,
            "gray_matrix": config.gray_matrix,
            "profile": config.profile,
            "repetitions": max((rep for rep, _, _ in pairs), default=0),
            "seed": config.seed,
            "causality": config.causality,
            "trace_sample": config.trace_sample,
            "metrics": config.stack.metrics,
            "prometheus": config.stack.prometheus is not None,
            "bus_nodes": config.bus_nodes,
        },
        run_id=config.run_id,
        profile={
            "phases": vars(profile.phases),
            "rate": profile.rate,
            "seed_posts": profile.seed_posts,
            "repetitions": profile.repetitions,
        },
    )
    ctx = ExperimentContext(
        run.path,
        config.profile,
        profile,
        config.seed,
        config.keep_data,
        config.say,
        causality=config.causality,
        trace_sample=config.trace_sample,
        stack=config.stack,
        bus_nodes=config.bus_nodes,
    )
    per_experiment_s = sum(vars(profile.phases).values()) + 25  # + stack, seed, settle, audit
    config.say(
        f"results -> {run.path} ({len(pairs)} experiments, profile {config.profile}, "
        f"about {len(pairs) * per_experiment_s / 60:.0f} min)"
    )
    experiments = []
    for n, (rep, impl, fault) in enumerate(pairs, 1):
        config.say(f"--- experiment {n}/{len(pairs)}: {impl} {fault} (repetition {rep})")
        experiments.append(run_experiment(ctx, impl, fault, rep))
    run.write_summary(
        {
            "run_id": run.run_id,
            "kind": "chaos",
            "machine": run.meta["machine"],
            "experiments": experiments,
            "matrix": matrix(experiments, lambda e: read_request_log(request_logs(run.path, e))),
            "valid": all(e["valid"] for e in experiments),
        }
    )
    run.finish()
    return run.path


def request_logs(run_dir: Path, experiment: Mapping[str, Any]) -> list[Path]:
    out = experiment_dir(run_dir, experiment["impl"], experiment["fault"], experiment["repetition"])
    return sorted((out / "requests").glob("requests-*.jsonl"))


def table(summary: dict[str, Any], impls: Sequence[str]) -> str:
    """The blast-radius matrix as text (lab/chaos/matrix.py)."""
    return matrix_table(summary["matrix"], impls)
