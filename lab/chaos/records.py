"""What an experiment measures from: one record per request of the load, and the fault window.

The load generator (benchmarks/locustfile.py with --lab-request-log) writes one JSON object per
line per request; these records, not Locust's statistics, are the truth for every chaos figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The record is written by the load generator, which may not import chaos: defined there.
from benchmarks.load.request_log import OK, RequestRecord

__all__ = ["INDETERMINATE", "OK", "WRITES", "FaultWindow", "RequestRecord", "read_request_log"]

WRITES = ("CreatePost", "CreateComment")
# Statuses after which the client cannot know whether its write happened (Jepsen: indeterminate).
INDETERMINATE = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED", "UNKNOWN", "TIMEOUT"})


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One fault: what, on which component, when it was injected and when it was removed."""

    fault: str  # e.g. "kill-db:comments"
    injected_at: float  # epoch seconds
    restored_at: float  # epoch seconds


def read_request_log(paths: Iterable[Path]) -> list[RequestRecord]:
    """Every record of every generator process's file, ordered by scheduled start."""
    records = [record for path in paths for record in _lines(path)]
    return sorted(records, key=lambda r: r.scheduled)


def _lines(path: Path) -> Iterator[RequestRecord]:
    with open(path) as lines:
        for line in lines:
            if line.strip():
                yield RequestRecord.from_json(line)
