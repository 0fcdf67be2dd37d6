"""Finding and reading the runs a report is made of (results/<run-id>/, read through
lab/runs/rundir.py), and enforcing their provenance: every run finished, measured on a clean
tree, and all of one commit (docs/METHOD.md, Results and report). A report that cannot say
which code its numbers came from is not one; `--allow-mixed` lets a user look anyway, and the
report then says so on its first screen.

Everything else is read as the runs wrote it; a missing raw file is None (the report says so),
never an exception. A run that cannot be read or classified is a ReportError (one line)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lab.runs.rundir import RunDir, RunError

# The kinds a report reads, and how many of each it takes (the newest by default).
REPORTED = (
    "bench",
    "chaos",
    "causality",
    "overload",
    "noise",
    "trace",
    "bus-nodes",
    "dose-response",
)


class ReportError(Exception):
    """A run the report cannot use, said in one line."""


@dataclass(frozen=True)
class Run:
    """One results/<run-id>/ directory, read."""

    run_id: str
    kind: str
    path: Path
    meta: dict[str, Any]
    summary: dict[str, Any]

    @property
    def started_at(self) -> str:
        return str(self.meta.get("started_at", ""))

    @property
    def doc(self) -> dict[str, Any]:
        """The run's summary (a benchmark run's: benchmarks/suite/results.py's shape)."""
        return self.summary

    @property
    def finished(self) -> bool:
        return "ended_at" in self.meta

    @property
    def commit(self) -> str:
        return str(self.meta.get("machine", {}).get("git_commit", ""))

    @property
    def dirty(self) -> bool:
        return bool(self.meta.get("machine", {}).get("git_dirty", True))


# A benchmark run: its summary has the shape of benchmarks/suite/results.py's SummaryDocument.
BenchRun = Run


@dataclass(frozen=True)
class Runs:
    """What one report is generated from: at most one run of each kind (chaos: any number,
    oldest first), and a baseline benchmark run to compare the benchmark run with."""

    bench: Run | None = None
    chaos: list[Run] = field(default_factory=list)
    causality: Run | None = None
    overload: Run | None = None
    noise: Run | None = None
    trace: Run | None = None
    bus_nodes: Run | None = None
    dose_response: Run | None = None
    baseline: Run | None = None
    provenance: list[str] = field(default_factory=list)  # what --allow-mixed let through

    def all(self) -> list[Run]:
        runs = (
            self.bench,
            *self.chaos,
            self.causality,
            self.overload,
            self.noise,
            self.trace,
            self.bus_nodes,
            self.dose_response,
            self.baseline,
        )
        return [r for r in runs if r is not None]

    def measured(self) -> list[Run]:
        """Every run but the baseline (an older run, by definition of another commit)."""
        return [r for r in self.all() if r is not self.baseline]


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_run(path: Path) -> Run:
    """One run directory; ReportError when it is none the report can use."""
    if not path.is_dir():
        raise ReportError(f"no such run: {path}")
    try:
        rundir = RunDir.open(path)
    except RunError as error:
        raise ReportError(str(error)) from None
    summary = read_json(path / "summary.json")
    if summary is None:
        raise ReportError(f"{path} has no readable summary.json (an unfinished run?)")
    kind = str(rundir.meta.get("kind", ""))
    if kind == "bench" and not summary.get("reps"):
        raise ReportError(f"{path} is a benchmark run without repetitions")
    if kind not in REPORTED and kind != "replicas":  # replicas: `lab compare` reads them
        raise ReportError(f"{path} is a {kind or 'run of no kind'}, not one a report reads")
    return Run(rundir.run_id, kind, path, dict(rundir.meta), summary)


def run_path(results_dir: Path, run_id: str) -> Path:
    """results_dir/<id>, or the id itself when it is a path to a run directory."""
    named = results_dir / run_id
    return Path(run_id) if not named.is_dir() and Path(run_id).is_dir() else named


def newest(runs: Sequence[Run]) -> Run | None:
    return max(runs, key=lambda r: (r.started_at, r.run_id), default=None)


def select(
    results_dir: Path,
    run_ids: Sequence[str] = (),
    baseline: str | None = None,
    allow_mixed: bool = False,
) -> Runs:
    """The runs named, or by default the newest of each kind under results_dir; `baseline`:
    an earlier benchmark run to compare the benchmark run with. Provenance is checked (see
    the module docstring) unless `allow_mixed`, which records what it let through."""
    if run_ids:
        runs = [read_run(run_path(results_dir, r)) for r in run_ids]
    else:
        found = []
        for path in sorted(p for p in results_dir.glob("*") if p.is_dir()):
            try:
                found.append(read_run(path))
            except ReportError:
                continue  # by default, what is not a usable run is skipped
        runs = [r for k in REPORTED if (r := newest([x for x in found if x.kind == k]))]
        if not runs:
            raise ReportError(f"no run a report reads under {results_dir}")
    by_kind: dict[str, list[Run]] = {}
    for run in runs:
        by_kind.setdefault(run.kind, []).append(run)
    for kind, mine in by_kind.items():
        if kind != "chaos" and len(mine) > 1:
            raise ReportError(f"give at most one {kind} run ({', '.join(r.run_id for r in mine)})")
    base = read_run(run_path(results_dir, baseline)) if baseline else None
    if base is not None:
        if base.kind != "bench":
            raise ReportError(f"the baseline {base.run_id} is not a benchmark run")
        if "bench" not in by_kind:
            raise ReportError("a baseline needs a benchmark run to compare with")
        if base.run_id == by_kind["bench"][0].run_id:
            raise ReportError(f"the baseline {base.run_id} is the benchmark run itself")
    problems = provenance_problems(runs)
    if problems and not allow_mixed:
        raise ReportError(
            f"{problems[0]}{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}: a "
            "report is made of finished runs of one clean commit (--allow-mixed to look anyway)"
        )

    def one(kind: str) -> Run | None:
        return by_kind.get(kind, [None])[0]

    return Runs(
        bench=one("bench"),
        chaos=sorted(by_kind.get("chaos", []), key=lambda r: (r.started_at, r.run_id)),
        causality=one("causality"),
        overload=one("overload"),
        noise=one("noise"),
        trace=one("trace"),
        bus_nodes=one("bus-nodes"),
        dose_response=one("dose-response"),
        baseline=base,
        provenance=problems,
    )


def provenance_problems(runs: Sequence[Run]) -> list[str]:
    """What keeps these runs from being one clean commit's finished runs, one line each."""
    problems = [f"run {r.run_id} did not finish (no ended_at)" for r in runs if not r.finished]
    problems += [f"run {r.run_id} measured a dirty tree" for r in runs if r.dirty]
    commits = sorted({r.commit[:12] for r in runs})
    if len(commits) > 1:
        problems.append(f"the runs measured {len(commits)} commits ({', '.join(commits)})")
    return problems


# --- raw files beside a benchmark run ---------------------------------------------------------
def label_dirs(run: Run, impl: str, label: str) -> list[Path]:
    """Every measured run's directory of `impl` and `label` (one per repetition): any
    directory named `label` with `impl` among its parents under the run."""
    return list(_label_dirs(run.path, impl, label))


@lru_cache(maxsize=256)  # a run's tree is walked once per figure and operation otherwise
def _label_dirs(root: Path, impl: str, label: str) -> tuple[Path, ...]:
    found = []
    for d in root.rglob(label):
        parts = d.relative_to(root).parts
        if d.is_dir() and impl in parts[:-1]:
            found.append(d)
    return tuple(sorted(found))


def hdr_texts(dirs: Sequence[Path], name: str) -> list[str]:
    """The encoded histograms `hdr-<name>.txt` of the given directories that exist."""
    out = []
    for d in dirs:
        path = d / f"hdr-{name}.txt"
        if path.is_file() and (text := path.read_text().strip()):
            out.append(text)
    return out


# --- raw files beside a chaos run -------------------------------------------------------------
def experiment_dir(run: Run, impl: str, fault: str, repetition: int = 1) -> Path:
    """Where one repetition of an experiment wrote (lab/chaos/runner.py's experiment_dir)."""
    return run.path / impl / fault.replace(":", "-") / f"rep-{repetition}"


TimelineRows = list[dict[str, Any]]  # second, op, requests, availability, p99_ms


def read_timeline(run: Run, impl: str, fault: str, repetition: int = 1) -> TimelineRows | None:
    """An experiment's per-second timeline (timeline.json); None when it is not there."""
    doc = read_json(experiment_dir(run, impl, fault, repetition) / "timeline.json")
    if doc is None or not isinstance(doc.get("rows"), list):
        return None
    return [
        {k: row.get(k) for k in ("second", "op", "requests", "availability", "p99_ms")}
        for row in doc["rows"]
    ]
