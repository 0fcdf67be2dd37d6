"""Running Chaos Toolkit on an experiment file, and reading what its journal says.

It runs as a subprocess (`chaos run`), never in our process: Locust's gevent patching and its
own threads stay out of ours, and its run_experiment() wants the main thread anyway.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHAOS = str(Path(sys.executable).with_name("chaos"))


@dataclass
class JournalSummary:
    """The parts of a journal the results keep (the journal itself is kept beside them)."""

    status: str  # completed, failed, aborted, interrupted
    deviated: bool
    steady_state_before: bool | None
    steady_state_after: bool | None
    activities: list[dict[str, Any]] = field(default_factory=list)  # name, status, output

    @property
    def every_activity_succeeded(self) -> bool:
        """A failed action does not fail a Chaos Toolkit run: check each one."""
        return all(a["status"] == "succeeded" for a in self.activities)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "deviated": self.deviated,
            "steady_state_before": self.steady_state_before,
            "steady_state_after": self.steady_state_after,
            "every_activity_succeeded": self.every_activity_succeeded,
            "activities": self.activities,
        }


def run_chaostoolkit(experiment: Path, journal: Path, log: Path, timeout_s: float) -> int:
    """`chaos run` with rollbacks always (also when the steady state fails or the run is
    interrupted) and no call home; returns its exit code."""
    args = [
        CHAOS,
        "--no-version-check",
        "--log-file",
        str(log.with_suffix(".debug.log")),
        "run",
        "--rollback-strategy",
        "always",
        "--journal-path",
        str(journal),
        str(experiment),
    ]
    with open(log, "wb") as out:
        try:
            return subprocess.run(
                args, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            return -1


def _steady(block: dict[str, Any] | None) -> bool | None:
    return None if block is None else bool(block.get("steady_state_met"))


def summarize_journal(journal: Path) -> JournalSummary:
    if not journal.exists():
        return JournalSummary("missing", False, None, None)
    data = json.loads(journal.read_text())
    steady = data.get("steady_states") or {}
    activities = [
        {
            "name": run["activity"]["name"],
            "status": run["status"],
            "output": run.get("output"),
            "start": run.get("start"),
            "end": run.get("end"),
        }
        for run in [*(data.get("run") or []), *(data.get("rollbacks") or [])]
    ]
    return JournalSummary(
        status=str(data.get("status")),
        deviated=bool(data.get("deviated")),
        steady_state_before=_steady(steady.get("before")),
        steady_state_after=_steady(steady.get("after")),
        activities=activities,
    )
