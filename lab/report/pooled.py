"""Several benchmark runs read as one: their repetitions one after another, every figure
recomputed over all of them (benchmarks/suite/aggregate.py, as `lab bench` computes one run's).

For two versions of the code measured in alternation (before, after, after, before, ...), each
run one repetition: the alternation is the interleaving of docs/METHOD.md, Noise, and pooling
each side's runs gives the spreads `lab compare` compares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from benchmarks.suite.aggregate import aggregate, comparisons, per_impl, targets
from benchmarks.suite.results import Repetition
from lab.report.sources import BenchRun, ReportError, Run


def commit_of(run: Run) -> str:
    """The commit a run measured (its meta.json's machine)."""
    return run.commit or "-"


def pool(runs: Sequence[BenchRun]) -> BenchRun:
    """One run whose repetitions are every repetition of `runs`, in the order given."""
    if not runs:
        raise ReportError("no benchmark run to pool")
    if len(runs) == 1:
        return runs[0]
    profiles = {str(r.doc.get("profile")) for r in runs}
    if len(profiles) > 1:
        raise ReportError(
            f"runs of different profiles ({', '.join(sorted(profiles))}) measure different "
            "loads: pool runs of one profile"
        )
    reps: list[Repetition] = []
    for run in runs:
        for rep in run.doc.get("reps", []):
            reps.append(cast(Repetition, {**rep, "rep": len(reps) + 1}))
    impls = dict.fromkeys(impl for rep in reps for impl in rep["impls"])
    figures = {impl: aggregate(per_impl(reps, impl)) for impl in impls}
    commits = sorted({commit_of(r) for r in runs})
    machine: dict[str, Any] = dict(runs[0].meta.get("machine") or runs[0].doc.get("machine") or {})
    machine["git_commit"] = commits[0] if len(commits) == 1 else " ".join(commits)
    run_id = "+".join(r.run_id for r in runs)
    summary = {
        "run_id": run_id,
        "machine": machine,
        "profile": runs[0].doc.get("profile"),
        "repetitions": len(reps),
        "reps": reps,
        "aggregate": figures,
        "comparisons": comparisons(figures, reps),
        "targets": targets(figures),
    }
    meta = {**runs[0].meta, "run_id": run_id, "machine": machine}
    return BenchRun(run_id=run_id, kind="bench", path=runs[0].path, meta=meta, summary=summary)
