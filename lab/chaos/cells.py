"""A cell of the blast-radius matrix: one operation while one fault held, in one implementation
(docs/METHOD.md, Coupling and failure isolation). Availability alone hides a stall, so a cell
holds the latency beside it: "up" means at least 99 % of its requests succeeded AND their p99
(from the scheduled start) stayed within the SLO; the availability-only reading is kept too.

A cell also says what it rests on: its request count, flagged `small` below MIN_CELL_REQUESTS,
and whether its p99 is estimable at all (at least MIN_P99_SAMPLES answered requests: a p99 of
fewer is their maximum, or close to it). Partial answers (the resilient sync variant's views
without their comments: status PARTIAL) are answers, counted apart: "up, degraded".

Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from benchmarks.suite.profiles import SLO_P99_MS
from lab.chaos.figures import operations, percentile
from lab.chaos.records import OK, PARTIAL, FaultWindow, RequestRecord

UP_AVAILABILITY = 0.99
MIN_CELL_REQUESTS = 200  # "a few hundred": a cell resting on fewer is flagged small
MIN_P99_SAMPLES = 100  # answered requests a p99 needs before it is more than a maximum


class CellDict(TypedDict):
    requests: int
    ok: int
    partial: int
    availability: float | None
    answered: float | None
    p99_ms: float | None
    up: bool | None
    up_by_availability: bool | None
    small: bool
    p99_estimable: bool


@dataclass(frozen=True, slots=True)
class Cell:
    """One operation's requests while a fault held (scheduled in [injected_at, restored_at))."""

    requests: int
    ok: int  # complete answers
    partial: int  # answers marked partial (up, degraded)
    p99_ms: float | None  # over every answer (complete or partial), from the scheduled start

    @property
    def availability(self) -> float | None:
        """Share of complete answers."""
        return self.ok / self.requests if self.requests else None

    @property
    def answered(self) -> float | None:
        """Share of answers, partial ones included."""
        return (self.ok + self.partial) / self.requests if self.requests else None

    @property
    def up_by_availability(self) -> bool | None:
        if self.availability is None:
            return None
        return self.availability >= UP_AVAILABILITY

    @property
    def up(self) -> bool | None:
        """Available at a usable latency: >= 99 % complete answers, p99 within the SLO."""
        if self.availability is None:
            return None
        return self.availability >= UP_AVAILABILITY and (self.p99_ms or 0.0) <= SLO_P99_MS

    @property
    def small(self) -> bool:
        return self.requests < MIN_CELL_REQUESTS

    @property
    def p99_estimable(self) -> bool:
        return self.ok + self.partial >= MIN_P99_SAMPLES

    def to_dict(self) -> CellDict:
        return CellDict(
            requests=self.requests,
            ok=self.ok,
            partial=self.partial,
            availability=self.availability,
            answered=self.answered,
            p99_ms=self.p99_ms,
            up=self.up,
            up_by_availability=self.up_by_availability,
            small=self.small,
            p99_estimable=self.p99_estimable,
        )


def cell(records: Sequence[RequestRecord]) -> Cell:
    """The cell of these requests (one operation's, during a fault; any number of runs)."""
    answered = [r for r in records if r.status in (OK, PARTIAL)]
    return Cell(
        requests=len(records),
        ok=sum(r.status == OK for r in answered),
        partial=sum(r.status == PARTIAL for r in answered),
        p99_ms=percentile([r.latency_ms for r in answered], 99),
    )


def during(records: Iterable[RequestRecord], window: FaultWindow) -> dict[str, list[RequestRecord]]:
    """Per operation, its requests scheduled while the fault held."""
    records = list(records)
    held = [r for r in records if window.injected_at <= r.scheduled < window.restored_at]
    return {op: [r for r in held if r.op == op] for op in operations(records)}


def cells(records: Iterable[RequestRecord], window: FaultWindow) -> dict[str, Cell]:
    """Per operation of the records, its cell during the fault."""
    return {op: cell(rs) for op, rs in during(records, window).items()}
