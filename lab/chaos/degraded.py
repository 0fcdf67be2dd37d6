"""Partial answers in a chaos experiment ("up, degraded"): per operation, the share of its
requests in each phase that were answered but marked partial (status PARTIAL: a post view
without its comments, sync-resilient's fallback; docs/METHOD.md, Resilience), and when the last
one came relative to the restore.

Availability and recovery count complete answers (RequestRecord.ok), and the blast-radius cells
count partial ones as answered beside them (lab/chaos/cells.py); these say, per phase, how much
was answered partially, and how long after the restore answers were complete again.
Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from lab.chaos.phases import PHASES, phase_of
from lab.chaos.records import FaultWindow, RequestRecord


@dataclass(frozen=True, slots=True)
class Degraded:
    """One op: per phase, the share of its requests answered partially (None: no request in
    the phase) and their number; `last_partial_after_restore_s`: the end of the last partial
    answer minus restored_at (negative when every one came before the restore; None when
    there was none): from then on every answer was complete."""

    before: float | None
    during: float | None
    after: float | None
    partial_before: int
    partial_during: int
    partial_after: int
    last_partial_after_restore_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (an experiment's `partial` of one op): the fields, by name."""
        return asdict(self)


def degraded(
    records: Iterable[RequestRecord], window: FaultWindow, warmup_end: float
) -> dict[str, Degraded]:
    """Per op with at least one partial answer (phases by scheduled time, as in
    phases.availability; requests scheduled before warmup_end are ignored)."""
    requests: dict[str, dict[str, int]] = {}
    partial: dict[str, dict[str, int]] = {}
    last: dict[str, float] = {}
    for r in records:
        phase = phase_of(r.scheduled, window, warmup_end)
        if phase is None:
            continue
        requests.setdefault(r.op, dict.fromkeys(PHASES, 0))[phase] += 1
        if r.partial:
            partial.setdefault(r.op, dict.fromkeys(PHASES, 0))[phase] += 1
            last[r.op] = max(last.get(r.op, r.end), r.end)
    out: dict[str, Degraded] = {}
    for op, counts in partial.items():
        shares = {ph: counts[ph] / requests[op][ph] if requests[op][ph] else None for ph in PHASES}
        out[op] = Degraded(
            before=shares["before"],
            during=shares["during"],
            after=shares["after"],
            partial_before=counts["before"],
            partial_during=counts["during"],
            partial_after=counts["after"],
            last_partial_after_restore_s=last[op] - window.restored_at,
        )
    return out
