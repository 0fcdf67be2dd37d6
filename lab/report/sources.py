"""Finding and reading the runs a report is made of: results/<run-id>/ of `lab bench` (kind
"bench"), `lab chaos` (kind "chaos") and a causality comparison (a summary with "causality"),
and the raw files beside their summaries (HDR histograms, chaos timelines).

Everything is read as the runs wrote it; a missing file is None (the report says so), never an
exception. Only a run that cannot be classified or read at all is a ReportError."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

Kind = Literal["bench", "chaos", "causality"]


class ReportError(Exception):
    """A run the report cannot use, said in one line."""


@dataclass(frozen=True)
class Run:
    """One results/<run-id>/ directory, read."""

    run_id: str
    kind: Kind
    path: Path
    meta: dict[str, Any]
    summary: dict[str, Any]

    @property
    def started_at(self) -> str:
        return str(self.meta.get("started_at", ""))


@dataclass(frozen=True)
class BenchRun(Run):
    """A benchmark run. Its summary has the shape of benchmarks/suite/results.py's
    SummaryDocument, read defensively (every key with .get): the format is young, and a
    figure a run lacks is reported missing, not a crash."""

    @property
    def doc(self) -> dict[str, Any]:
        return self.summary


@dataclass(frozen=True)
class Runs:
    """What one report is generated from: at most one benchmark run, the chaos runs (oldest
    first; the newest one's timelines are drawn), at most one causality comparison, and a
    baseline benchmark run the benchmark run is compared with (lab/report/baseline.py)."""

    bench: BenchRun | None = None
    chaos: list[Run] = field(default_factory=list)
    causality: Run | None = None
    baseline: BenchRun | None = None

    def all(self) -> list[Run]:
        runs = (self.bench, *self.chaos, self.causality, self.baseline)
        return [r for r in runs if r is not None]


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kind_of(meta: dict[str, Any], summary: dict[str, Any]) -> Kind | None:
    """bench: meta.json's "kind" (or, written before it had one, a summary with "reps");
    chaos and causality: meta.json's "kind" (or a summary with a "causality" key). A
    replica comparison or a summary from before repetitions is none of them."""
    kind = meta.get("kind", summary.get("kind"))
    if "causality" in summary or kind == "causality":
        return "causality"
    if kind == "chaos":
        return "chaos"
    if kind == "bench" or (kind is None and "reps" in summary):
        return "bench" if "reps" in summary else None
    return None


def read_run(path: Path) -> Run:
    """One run directory, classified; ReportError when it is none the report can use."""
    if not path.is_dir():
        raise ReportError(f"no such run: {path}")
    meta = read_json(path / "meta.json") or {}
    summary = read_json(path / "summary.json")
    if summary is None:
        raise ReportError(f"{path} has no readable summary.json (an unfinished run?)")
    kind = kind_of(meta, summary)
    if kind is None:
        raise ReportError(
            f"{path} is not a benchmark run with repetitions, a chaos run or a causality run"
        )
    run_id = str(summary.get("run_id") or meta.get("run_id") or path.name)
    cls = BenchRun if kind == "bench" else Run
    return cls(run_id=run_id, kind=kind, path=path, meta=meta, summary=summary)


def select(results_dir: Path, run_ids: Sequence[str] = (), baseline: str | None = None) -> Runs:
    """The runs named (each must be usable), or by default the newest benchmark run, the
    newest chaos run and the newest causality comparison under results_dir; `baseline`: a
    benchmark run to compare the benchmark run with."""
    if run_ids:
        # A run id names results_dir/<id>; a path to a run directory works too.
        runs = [read_run(run_path(results_dir, r)) for r in run_ids]
    else:
        runs = []
        for path in sorted(p for p in results_dir.glob("*") if p.is_dir()):
            try:
                runs.append(read_run(path))
            except ReportError:
                continue  # by default, what is not a usable run is skipped
        chosen = [newest([r for r in runs if r.kind == k]) for k in ("bench", "chaos", "causality")]
        runs = [r for r in chosen if r is not None]
        if not runs:
            raise ReportError(f"no benchmark, chaos or causality run under {results_dir}")
    benches = [r for r in runs if isinstance(r, BenchRun)]
    causality = [r for r in runs if r.kind == "causality"]
    if len(benches) > 1 or len(causality) > 1:
        raise ReportError("give at most one benchmark run and one causality run")
    chaos = sorted((r for r in runs if r.kind == "chaos"), key=lambda r: (r.started_at, r.run_id))
    base = read_run(run_path(results_dir, baseline)) if baseline else None
    if base is not None:
        if not isinstance(base, BenchRun):
            raise ReportError(f"the baseline {base.run_id} is not a benchmark run")
        if not benches:
            raise ReportError("a baseline needs a benchmark run to compare with")
        if base.run_id == benches[0].run_id:
            raise ReportError(f"the baseline {base.run_id} is the benchmark run itself")
    return Runs(
        bench=benches[0] if benches else None,
        chaos=chaos,
        causality=causality[0] if causality else None,
        baseline=base,
    )


def run_path(results_dir: Path, run_id: str) -> Path:
    """results_dir/<id>, or the id itself when it is a path to a run directory."""
    named = results_dir / run_id
    return Path(run_id) if not named.is_dir() and Path(run_id).is_dir() else named


def newest(runs: Sequence[Run]) -> Run | None:
    return max(runs, key=lambda r: (r.started_at, r.run_id), default=None)


# --- raw files beside a benchmark run ---------------------------------------------------------
def label_dirs(run: Run, impl: str, label: str) -> list[Path]:
    """Every measured run's directory of `impl` and `label` (one per repetition), wherever the
    suite put it (rep-<n>/<impl>/<label>, <impl>/rep-<n>/<label>, <impl>/<label>): any
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
def experiment_dir(run: Run, impl: str, fault: str) -> Path:
    return run.path / impl / fault.replace(":", "-")


TimelineRows = list[dict[str, Any]]  # second, op, requests, availability, p99_ms


def read_timeline(run: Run, impl: str, fault: str) -> TimelineRows | None:
    """An experiment's per-second timeline (timeline.json, else timeline.csv); None if neither
    is there."""
    d = experiment_dir(run, impl, fault)
    doc = read_json(d / "timeline.json")
    if doc is not None and isinstance(doc.get("rows"), list):
        return [
            {k: row.get(k) for k in ("second", "op", "requests", "availability", "p99_ms")}
            for row in doc["rows"]
        ]
    try:
        with open(d / "timeline.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    return [
        {
            "second": float(r["second"]),
            "op": r["op"],
            "requests": int(r["requests"] or 0),
            "availability": float(r["availability"]) if r["availability"] else None,
            "p99_ms": float(r["p99_ms"]) if r["p99_ms"] else None,
        }
        for r in rows
    ]
