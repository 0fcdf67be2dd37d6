"""One run directory, results/<run-id>/, written and read by this module alone: its meta.json
(what ran, on which machine and commit, when it started and ended) and its summary.json (what
the run's own command measured, in that command's typed shape), beside the raw files the
command writes into it.

A run is finished when its meta.json has `ended_at`; a report refuses unfinished runs, runs
measured on a tree with uncommitted changes (`machine.git_dirty`) and runs of different commits
mixed in one report (lab/report/sources.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, TypeVar, cast, get_args

from lab.runs.machine import ROOT, MachineMeta, machine_meta

RESULTS = ROOT / "results"
META = "meta.json"
SUMMARY = "summary.json"

Kind = Literal[
    "bench",
    "replicas",
    "bus-nodes",
    "chaos",
    "dose-response",
    "causality",
    "overload",
    "noise",
    "trace",
]
KINDS: tuple[Kind, ...] = get_args(Kind)
T = TypeVar("T")


class RunError(Exception):
    """A run directory that is not one (no meta.json, or not readable)."""


class Meta(TypedDict):
    """results/<run-id>/meta.json."""

    run_id: str
    kind: Kind
    started_at: str  # ISO 8601, UTC
    config: dict[str, Any]  # the command's settings
    machine: MachineMeta
    profile: NotRequired[dict[str, Any]]  # the profile's settings, when the command has one
    seed: NotRequired[int]
    ended_at: NotRequired[str]  # written at the end: a run without it did not finish


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _jsonable(value: Any) -> Any:
    """A Path, anywhere in the value (e.g. the stack options' Prometheus home), as text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Path) else value


@dataclass
class RunDir:
    """A run directory: create() when a command starts, finish() when it ends; open() to read."""

    path: Path
    meta: Meta

    @classmethod
    def create(
        cls,
        results_dir: Path,
        kind: Kind,
        config: Mapping[str, Any],
        run_id: str | None = None,
        **extra: Any,
    ) -> RunDir:
        """A new run directory (never an existing one) with its meta.json written."""
        run_id = run_id or new_run_id()
        path = Path(results_dir) / run_id
        path.mkdir(parents=True, exist_ok=False)
        meta: Meta = {
            "run_id": run_id,
            "kind": kind,
            "started_at": datetime.now(UTC).isoformat(),
            "config": {k: _jsonable(v) for k, v in config.items()},
            "machine": machine_meta(),
        }
        meta.update(extra)  # type: ignore[typeddict-item]
        run = cls(path, meta)
        run._write_meta()
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        try:
            meta = cast(Meta, json.loads((Path(path) / META).read_text()))
        except (OSError, ValueError) as error:
            raise RunError(f"{path}: not a run directory ({META}: {error})") from None
        return cls(Path(path), meta)

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    @property
    def kind(self) -> Kind:
        return self.meta["kind"]

    @property
    def finished(self) -> bool:
        return "ended_at" in self.meta

    @property
    def commit(self) -> str:
        return self.meta["machine"]["git_commit"]

    @property
    def dirty(self) -> bool:
        return bool(self.meta["machine"]["git_dirty"])

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """summary.json (again: a command that writes it as it goes keeps what it measured when
        it is interrupted)."""
        (self.path / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")

    def summary(self, shape: type[T]) -> T:
        """summary.json, as the shape its command writes (a TypedDict of that command's)."""
        try:
            return cast(T, json.loads((self.path / SUMMARY).read_text()))
        except (OSError, ValueError) as error:
            raise RunError(f"{self.path}: no readable {SUMMARY} ({error})") from None

    def finish(self) -> None:
        """Mark the run finished (meta.json's ended_at)."""
        self.meta["ended_at"] = datetime.now(UTC).isoformat()
        self._write_meta()

    def _write_meta(self) -> None:
        (self.path / META).write_text(json.dumps(self.meta, indent=2) + "\n")
