"""The blast-radius matrix (docs/METHOD.md, Coupling and failure isolation): for each fault and
operation, every implementation's cell while the fault held, pooled over the repetitions of
the experiment (availability and p99 over all their requests, the repetitions' range beside),
next to the static prediction; the coupling index by availability and by "up" (availability
and latency); each operation's recovery as its spread over the repetitions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from benchmarks.suite.stats import Spread, spread
from lab.chaos.cells import Cell, CellDict, cell, during
from lab.chaos.coupling import component_of, coupling_index, dependencies, owner, predicted_up
from lab.chaos.records import FaultWindow, RequestRecord
from lab.stack.topology import OPERATIONS


class MatrixCell(TypedDict):
    during: float | None  # pooled availability (the figure the matrix shows first)
    cell: CellDict  # pooled over the repetitions
    availability_range: list[float]  # [min, max] over the repetitions
    p99_range_ms: list[float]
    repetitions: int
    recovery_s: Spread | None  # over the repetitions in which it recovered
    never_recovered: int  # repetitions in which it did not
    predicted_up: bool
    depends_on: list[str]
    agrees: bool | None  # measured up (by availability) == predicted
    foreign: bool  # the operation is not the failed component's own (counted by the index)


class Matrix(TypedDict):
    rows: dict[str, dict[str, dict[str, MatrixCell]]]  # fault -> operation -> impl -> cell
    coupling_index: dict[str, float | None]  # by availability alone
    coupling_index_up: dict[str, float | None]  # by "up": availability and p99 within the SLO
    # Each repetition's own index (its experiments' cells alone): "availability" and "up" ->
    # impl -> one value per repetition, the spread a difference between variants must clear.
    coupling_index_per_repetition: dict[str, dict[str, list[float | None]]]


Experiment = Mapping[str, Any]  # one experiment's summary.json (lab/chaos/runner.py)


def window_of(experiment: Experiment) -> FaultWindow | None:
    times = experiment.get("times") or {}
    if times.get("injected_at") is None or times.get("restored_at") is None:
        return None
    return FaultWindow(experiment["fault"], times["injected_at"], times["restored_at"])


def matrix(
    experiments: Sequence[Experiment], records_of: Callable[[Experiment], list[RequestRecord]]
) -> Matrix:
    """The matrix of these experiments (every repetition of every (impl, fault)); `records_of`
    reads an experiment's request log."""
    grouped: dict[tuple[str, str], list[Experiment]] = {}
    for e in experiments:
        grouped.setdefault((e["impl"], e["fault"]), []).append(e)
    rows: dict[str, dict[str, dict[str, MatrixCell]]] = {}
    by_availability: dict[str, dict[str, dict[str, float | None]]] = {}
    by_up: dict[str, dict[str, dict[str, float | None]]] = {}
    for (impl, fault), runs in grouped.items():
        pooled: dict[str, list[RequestRecord]] = {}
        per_run: dict[str, list[Cell]] = {}
        for run in runs:
            window = window_of(run)
            if window is None:
                continue
            for op, records in during(records_of(run), window).items():
                pooled.setdefault(op, []).extend(records)
                per_run.setdefault(op, []).append(cell(records))
        for op in OPERATIONS:
            c = cell(pooled.get(op, []))
            runs_cells = per_run.get(op, [])
            recovered = [
                r["recovery"].get(op, {}).get("seconds") for r in runs if r.get("recovery")
            ]
            predicted = predicted_up(impl, fault, op)
            rows.setdefault(fault, {}).setdefault(op, {})[impl] = MatrixCell(
                during=c.availability,
                cell=c.to_dict(),
                availability_range=_range(x.availability for x in runs_cells),
                p99_range_ms=_range(x.p99_ms for x in runs_cells),
                repetitions=len(runs_cells),
                recovery_s=spread(recovered),
                never_recovered=sum(s is None for s in recovered),
                predicted_up=predicted,
                depends_on=sorted(dependencies(impl, op)),
                agrees=None if c.up_by_availability is None else c.up_by_availability == predicted,
                foreign=not owned(fault, op),
            )
            by_availability.setdefault(impl, {}).setdefault(fault, {})[op] = c.availability
            # The same index read with "up": an operation counts as available only at a usable
            # latency (a stalled operation is down, whatever share of its requests succeeded).
            up = None if c.up is None else (1.0 if c.up else 0.0)
            by_up.setdefault(impl, {}).setdefault(fault, {})[op] = up
    return Matrix(
        rows=rows,
        coupling_index={impl: coupling_index(impl, d) for impl, d in by_availability.items()},
        coupling_index_up={impl: coupling_index(impl, d) for impl, d in by_up.items()},
        coupling_index_per_repetition=per_repetition(experiments, records_of),
    )


def per_repetition(
    experiments: Sequence[Experiment], records_of: Callable[[Experiment], list[RequestRecord]]
) -> dict[str, dict[str, list[float | None]]]:
    """The coupling index of each repetition's experiments alone, both readings."""
    reps = sorted({int(e.get("repetition", 1)) for e in experiments})
    out: dict[str, dict[str, list[float | None]]] = {"availability": {}, "up": {}}
    for rep in reps:
        mine = [e for e in experiments if int(e.get("repetition", 1)) == rep]
        by_availability: dict[str, dict[str, dict[str, float | None]]] = {}
        by_up: dict[str, dict[str, dict[str, float | None]]] = {}
        for e in mine:
            window = window_of(e)
            if window is None:
                continue
            for op, records in during(records_of(e), window).items():
                c = cell(records)
                by_availability.setdefault(e["impl"], {}).setdefault(e["fault"], {})[op] = (
                    c.availability
                )
                up = None if c.up is None else (1.0 if c.up else 0.0)
                by_up.setdefault(e["impl"], {}).setdefault(e["fault"], {})[op] = up
        for impl, d in by_availability.items():
            out["availability"].setdefault(impl, []).append(coupling_index(impl, d))
        for impl, d in by_up.items():
            out["up"].setdefault(impl, []).append(coupling_index(impl, d))
    return out


def owned(fault: str, operation: str) -> bool:
    """Whether the failed component is the operation's own (its service or its database)."""
    return component_of(fault) in owner(operation)


def _range(values: Any) -> list[float]:
    present = [float(v) for v in values if v is not None]
    return [min(present), max(present)] if present else []


def table(m: Matrix, impls: Sequence[str]) -> str:
    """The matrix as text: per fault and operation, each implementation's availability during
    the fault, its p99 and request count; `!` differs from the static prediction, `~` small."""
    lines = [
        "cells: availability | p99 ms | requests, per implementation ("
        + " / ".join(impls)
        + "); ! = differs from the static prediction, ~ = fewer than 200 requests, "
        "* = down by latency (p99 over the SLO) though available"
    ]
    for fault, by_op in m["rows"].items():
        lines.append(fault)
        for op, by_impl in by_op.items():
            parts = []
            for impl in impls:
                mc = by_impl.get(impl)
                if mc is None:
                    parts.append(f"{'n/a':>22}")
                    continue
                c = mc["cell"]
                availability = "-" if c["availability"] is None else f"{c['availability']:.0%}"
                p99 = "-" if c["p99_ms"] is None else f"{c['p99_ms']:.0f}"
                mark = "" if mc["agrees"] in (True, None) else "!"
                mark += "~" if c["small"] else ""
                mark += "*" if c["up_by_availability"] and not c["up"] else ""
                parts.append(f"{availability + mark:>6} {p99:>7} {c['requests']:>6}")
            lines.append(f"  {op:14} " + "  ".join(parts))
    for reading, index in (("availability", m["coupling_index"]), ("up", m["coupling_index_up"])):
        lines.append(
            f"coupling index by {reading}: "
            + ", ".join(f"{impl} {'-' if v is None else f'{v:.0%}'}" for impl, v in index.items())
        )
    return "\n".join(lines)
