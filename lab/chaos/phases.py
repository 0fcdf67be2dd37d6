"""Figures 2 and 5 of a chaos experiment: per operation, availability and p99 latency in each
phase (before, during and after the fault).

Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lab.chaos.figures import operations, percentile
from lab.chaos.records import FaultWindow, RequestRecord

Phase = Literal["before", "during", "after"]
PHASES: tuple[Phase, ...] = ("before", "during", "after")


def phase_of(scheduled: float, window: FaultWindow, warmup_end: float) -> Phase | None:
    """before = [warmup_end, injected_at), during = [injected_at, restored_at),
    after = [restored_at, ...); None in the warm-up."""
    if scheduled < warmup_end:
        return None
    if scheduled < window.injected_at:
        return "before"
    if scheduled < window.restored_at:
        return "during"
    return "after"


@dataclass(frozen=True, slots=True)
class PhaseAvailability:
    """One op's share of successful requests per phase (None: no request in the phase), and
    the number of requests it is over."""

    before: float | None
    during: float | None
    after: float | None
    requests_before: int
    requests_during: int
    requests_after: int

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (an experiment's `availability` of one op): the fields, by name."""
        return asdict(self)


def _by_op_and_phase(
    records: Iterable[RequestRecord], window: FaultWindow, warmup_end: float
) -> dict[str, dict[Phase, list[RequestRecord]]]:
    records = list(records)
    grouped: dict[str, dict[Phase, list[RequestRecord]]] = {
        op: {phase: [] for phase in PHASES} for op in operations(records)
    }
    for r in records:
        phase = phase_of(r.scheduled, window, warmup_end)
        if phase is not None:
            grouped[r.op][phase].append(r)
    return grouped


def availability(
    records: Iterable[RequestRecord], window: FaultWindow, warmup_end: float
) -> dict[str, PhaseAvailability]:
    """Per op (every op present in the records), the fraction of its requests that succeeded
    in each phase, by scheduled time: before = [warmup_end, injected_at), during =
    [injected_at, restored_at), after = [restored_at, the last record]. None for a phase with
    no request of the op. Requests scheduled before warmup_end are ignored."""
    out: dict[str, PhaseAvailability] = {}
    for op, phases in _by_op_and_phase(records, window, warmup_end).items():
        shares = {p: _share_ok(rs) for p, rs in phases.items()}
        out[op] = PhaseAvailability(
            before=shares["before"],
            during=shares["during"],
            after=shares["after"],
            requests_before=len(phases["before"]),
            requests_during=len(phases["during"]),
            requests_after=len(phases["after"]),
        )
    return out


def _share_ok(records: list[RequestRecord]) -> float | None:
    return sum(r.ok for r in records) / len(records) if records else None


@dataclass(frozen=True, slots=True)
class PhaseLatency:
    """One op's latency (ms, from the scheduled start) per phase; None: no successful request."""

    before: float | None
    during: float | None
    after: float | None

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (an experiment's `p99_ms` of one op): the fields, by name."""
        return asdict(self)


def phase_p99(
    records: Iterable[RequestRecord],
    window: FaultWindow,
    warmup_end: float,
    p: float = 99.0,
) -> dict[str, PhaseLatency]:
    """Per op, the p-th percentile (default 99) of the latency of its SUCCESSFUL requests in
    each phase (phases as in `availability`); failed requests carry no latency."""
    out: dict[str, PhaseLatency] = {}
    for op, phases in _by_op_and_phase(records, window, warmup_end).items():
        values = {
            ph: percentile([r.latency_ms for r in rs if r.ok], p) for ph, rs in phases.items()
        }
        out[op] = PhaseLatency(
            before=values["before"], during=values["during"], after=values["after"]
        )
    return out
