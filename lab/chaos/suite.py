"""`lab chaos`: experiments per implementation and fault, or the whole catalogue (the matrix),
written to results/<run-id>/ with meta.json and a summary.json (docs/METHOD.md, Coupling and
failure isolation)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.suite.machine import machine_meta
from lab.chaos.coupling import coupling_index, dependencies, predicted_up
from lab.chaos.profiles import PROFILES
from lab.chaos.runner import ExperimentContext, run_experiment
from lab.stack.faults import catalogue
from lab.stack.topology import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
MATRIX_KINDS = ("kill-db", "kill", "kill-bus")  # freezes: by --fault


@dataclass
class ChaosConfig:
    impls: list[str]
    faults: list[str]  # empty with matrix: every fault of each implementation's catalogue
    matrix: bool = False
    profile: str = "quick"
    results_dir: Path = ROOT / "results"
    keep_data: bool = False
    seed: int = 1
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    causality: str | None = None  # async comments on posts not known yet; None: the default
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def plan(config: ChaosConfig) -> list[tuple[str, str]]:
    """(impl, fault) pairs in run order: per fault, every implementation in turn, so drift over
    the run hits both sides alike."""
    if config.matrix:  # one fault per component: every database, every service, the bus
        faults: list[str] = []
        for impl in config.impls:
            faults += [
                str(f) for f in catalogue(impl) if f.kind in MATRIX_KINDS and str(f) not in faults
            ]
    else:
        faults = config.faults
    applicable = {impl: {str(f) for f in catalogue(impl)} for impl in config.impls}
    return [(impl, f) for f in faults for impl in config.impls if f in applicable[impl]]


def run_chaos(config: ChaosConfig) -> Path:
    profile = PROFILES[config.profile]
    run_dir = config.results_dir / config.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    meta: dict[str, Any] = {
        "run_id": config.run_id,
        "kind": "chaos",
        "started_at": datetime.now(UTC).isoformat(),
        "config": {
            "impls": config.impls,
            "faults": config.faults,
            "matrix": config.matrix,
            "profile": config.profile,
            "seed": config.seed,
            "causality": config.causality,
        },
        "profile": {
            "phases": vars(profile.phases),
            "rate": profile.rate,
            "seed_posts": profile.seed_posts,
        },
        "machine": machine_meta(),
    }
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    ctx = ExperimentContext(
        run_dir,
        config.profile,
        profile,
        config.seed,
        config.keep_data,
        config.say,
        causality=config.causality,
    )
    pairs = plan(config)
    config.say(f"results -> {run_dir} ({len(pairs)} experiments, profile {config.profile})")
    experiments = []
    for n, (impl, fault) in enumerate(pairs, 1):
        config.say(f"--- experiment {n}/{len(pairs)}: {impl} {fault}")
        experiments.append(run_experiment(ctx, impl, fault))
    meta["ended_at"] = datetime.now(UTC).isoformat()
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    summary = {
        "run_id": config.run_id,
        "kind": "chaos",
        "machine": meta["machine"],
        "experiments": experiments,
        "matrix": matrix(experiments),
        "valid": all(e["valid"] for e in experiments),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return run_dir


def matrix(experiments: list[dict[str, Any]]) -> dict[str, Any]:
    """The blast radius: per fault and operation, availability during the fault for each
    implementation, beside the static prediction, and each implementation's coupling index."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    during: dict[str, dict[str, dict[str, float | None]]] = {}
    for e in experiments:
        impl, fault = e["impl"], e["fault"]
        for op in OPERATIONS:
            measured = (e["availability"].get(op) or {}).get("during")
            cell = rows.setdefault(fault, {}).setdefault(op, {})
            cell[impl] = {
                "during": measured,
                "predicted_up": predicted_up(impl, fault, op),
                "depends_on": sorted(dependencies(impl, op)),
            }
            if measured is not None:
                cell[impl]["agrees"] = (measured >= 0.99) == predicted_up(impl, fault, op)
            during.setdefault(impl, {}).setdefault(fault, {})[op] = measured
    return {
        "rows": rows,
        "coupling_index": {impl: coupling_index(impl, by) for impl, by in during.items()},
    }


def table(summary: dict[str, Any]) -> str:
    """The blast-radius matrix as text: availability during each fault, sync | async."""
    lines = []
    ops = list(OPERATIONS)
    lines.append(f"{'fault':22} " + " ".join(f"{op:>15}" for op in ops))
    for fault, by_op in summary["matrix"]["rows"].items():
        cells = []
        for op in ops:
            parts = []
            for impl in ("sync", "async"):
                cell = by_op.get(op, {}).get(impl)
                if cell is None:
                    parts.append("  n/a")
                    continue
                value = cell["during"]
                mark = "" if cell.get("agrees", True) else "!"
                parts.append(f"{'-' if value is None else f'{value:.0%}'}{mark}".rjust(5))
            cells.append(" | ".join(parts).rjust(15))
        lines.append(f"{fault:22} " + " ".join(cells))
    index = summary["matrix"]["coupling_index"]
    lines.append(
        "coupling index (share of pairs where an operation not owned by the failed component "
        "dropped below 99 %): "
        + ", ".join(f"{impl} {'-' if v is None else f'{v:.0%}'}" for impl, v in index.items())
    )
    lines.append(
        "cells: availability during the fault, sync | async; ! = differs from the static prediction"
    )
    return "\n".join(lines)
