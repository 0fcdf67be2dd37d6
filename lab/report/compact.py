"""The compact copy of a run that can be committed beside REPORT.md (docs/METHOD.md, Results and
report): what the report reads and the raw measurements behind it (summaries, HDR histograms,
timelines, audits, flame graphs), without generator logs, request logs and Locust CSVs."""

from __future__ import annotations

import shutil
from fnmatch import fnmatch
from pathlib import Path

KEEP = (
    "meta.json",
    "summary.json",  # every level: the run's, each measured run's, each experiment's
    "timeline.json",
    "experiment.json",  # the Chaos Toolkit experiment as run
    "hdr-*-corrected.txt",  # latency from the scheduled start, per operation
    "hdr-server-*.txt",  # the query service's lag histograms
    "*.svg",  # flame graphs
    "timeline.png",  # the overload experiment's timeline figure, beside its results
    "trace-summary.json",  # a tracing run's per-hop breakdown (its spans are left out)
    "waterfall-*.png",  # ... and its waterfalls
)


def kept(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in KEEP)


def compact_copy(run: Path, into: Path) -> Path:
    """Copy `run`'s kept files to into/<run's name>/ (replacing an older copy); returns it."""
    target = into / run.name
    if target.resolve() == run.resolve():
        return target  # already the compact copy (removing it would remove the run)
    if target.exists():
        shutil.rmtree(target)
    for path in sorted(run.rglob("*")):
        if path.is_file() and kept(path.name):
            copy = target / path.relative_to(run)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
    return target
