"""What an experiment measures from: one record per request of the load, and the fault window.

The load generator (benchmarks/locustfile.py with --lab-request-log) writes one JSON object per
line per request; these records, not Locust's statistics, are the truth for every chaos figure.
"""

from __future__ import annotations

from dataclasses import dataclass

# The record is written (and read) by the load generator's module, which may not import chaos.
from benchmarks.load.request_log import OK, PARTIAL, RequestRecord, read_request_log

__all__ = [
    "INDETERMINATE",
    "OK",
    "PARTIAL",
    "WRITES",
    "FaultWindow",
    "RequestRecord",
    "read_request_log",
]

WRITES = ("CreatePost", "CreateComment")
# Statuses after which the client cannot know whether its write happened (Jepsen: indeterminate).
INDETERMINATE = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED", "UNKNOWN", "TIMEOUT"})


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One fault: what, on which component, when it was injected and when it was removed."""

    fault: str  # e.g. "kill-db:comments"
    injected_at: float  # epoch seconds
    restored_at: float  # epoch seconds
