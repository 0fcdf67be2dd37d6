"""What the report's parts share: the two sides in the order every table lists them, the
availability threshold of the chaos figures, and a finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IMPLS = ("sync", "async")
# The audit's counts (lab/chaos/audit.py), in the order every table and sentence lists them.
AUDIT_COLUMNS = (
    "attempted",
    "acknowledged",
    "lost",
    "duplicated",
    "unexpected",
    "indeterminate",
    "recovered",
)
AVAILABLE = 0.99  # an operation at or above this share of successes counts as up (chaos)


@dataclass(frozen=True)
class Finding:
    """One finding: a sentence, its sub-points, the section behind it; `failed` marks what
    invalidates a run (a lost write), shown first and in bold."""

    topic: str
    text: str
    ref: str
    details: tuple[str, ...] = ()
    failed: bool = False


def swept_scenarios(doc: dict[str, Any]) -> list[str]:
    """The scenarios either implementation's capacity was swept for (a benchmark summary's
    aggregate), in the summary's order."""
    agg = doc.get("aggregate", {})
    return list(dict.fromkeys(s for impl in IMPLS for s in agg.get(impl, {}).get("capacity", {})))
