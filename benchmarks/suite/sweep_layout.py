"""Where a benchmark run keeps each capacity step (docs/METHOD.md, Capacity), written by the
sweep (benchmarks/suite/sweep.py) and read back by the tools that judge a run again or look
at its noise records: results/<run-id>/rep-<n>/<impl>/<sweep|bare-sweep>-<scenario>/grid@<rate>.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.suite.results import SweepResult


def sweep_dir(impl_dir: Path, scenario: str, bare: bool) -> Path:
    """A sweep's directory under one repetition's implementation directory."""
    return impl_dir / f"{'bare-sweep' if bare else 'sweep'}-{scenario}"


def grid_step_dir(sweep: Path, rate: float) -> Path:
    """A grid step's directory (its raw generator files, its noise record)."""
    return sweep / f"grid@{rate:g}"


@dataclass(frozen=True)
class StoredSweep:
    """One sweep of a run as its summary.json keeps it, with where its steps' files are."""

    repetition: int  # 1-based
    impl: str
    scenario: str
    bare: bool  # the bare chain's sweep, not the implementation's
    sweep: SweepResult
    path: Path

    def step_dir(self, rate: float) -> Path:
        return grid_step_dir(self.path, rate)


def stored_sweeps(run_dir: Path, summary: Mapping[str, Any]) -> Iterator[StoredSweep]:
    """Every sweep of the run (a run's summary.json, read), repetition by repetition: each
    implementation's, then its bare chain's when it was swept."""
    for rep, repetition in enumerate(summary["reps"], start=1):
        for impl, result in repetition["impls"].items():
            for scenario, cap in result.get("capacity", {}).items():
                for bare, sweep in ((False, cap), (True, cap.get("bare_chain"))):
                    if sweep:
                        where = sweep_dir(run_dir / f"rep-{rep}" / impl, scenario, bare)
                        yield StoredSweep(rep, impl, scenario, bare, sweep, where)
