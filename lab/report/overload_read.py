"""What the report reads of an overload run beyond its summary: each experiment's timeline, and
the judgement of its base rate made again from it by this code's rule (docs/METHOD.md,
Overload)."""

from __future__ import annotations

import json
from typing import Any

from lab.chaos.overload.timeline import Second, base_served, judge_base
from lab.report.sources import Run


def timeline_of(overload: Run, e: dict[str, Any]) -> list[Second] | None:
    """The experiment's per-second timeline (timeline.json), None where the run has none."""
    path = overload.path / e["impl"] / f"overload@{e['base']:g}" / "timeline.json"
    keep = set(Second.__slots__)  # type: ignore[attr-defined]
    try:
        rows = json.loads(path.read_text())
        return [Second(**{k: v for k, v in row.items() if k in keep}) for row in rows]
    except (OSError, ValueError, TypeError):
        return None


def judged(overload: Run, e: dict[str, Any]) -> dict[str, Any]:
    """An experiment's figures, with whether the variant served its base rate (and so whether
    "never back" is metastability) judged from its timeline by this code's rule
    (`base_served`), so that a report of older runs applies the rule it explains."""
    f: dict[str, Any] = dict(e.get("figures") or {})
    times = e.get("times", {})
    seconds = timeline_of(overload, e)
    if seconds is None:
        return f
    spike_at, back_at = times.get("spike_at"), times.get("back_at")
    if base_served(seconds) is None or spike_at is None or back_at is None:
        return f  # no judgement of the base by this rule: the run's own stands
    spike_s = back_at - spike_at
    f["overloaded_at_base"], f["metastable"] = judge_base(seconds, spike_s, f.get("recovery_s"))
    return f
