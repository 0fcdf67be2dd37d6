"""What the runs say about each variant, dimension by dimension, as typed figures with their
ranges (lab/report/rule.py): the report's verdict (lab/report/verdict.py) is derived from this
alone, so a test can feed it synthetic evidence and check that the statements follow the data.

Every figure here is read off a run's summary; none is typed by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from lab.chaos.coupling import coupling_index
from lab.report.overload_read import judged
from lab.report.rule import Range
from lab.report.sources import Run, Runs

MAIN_SCENARIO = "mixed"
KNOWN_ORDER = ("sync", "sync-resilient", "async")


def variants(runs: Runs) -> list[str]:
    """The implementations the runs measured, in the order every table lists them."""
    seen: dict[str, None] = {}
    if runs.bench is not None:
        seen.update(dict.fromkeys(runs.bench.summary.get("aggregate", {})))
    for chaos in runs.chaos:
        seen.update(dict.fromkeys(e["impl"] for e in chaos.summary.get("experiments", [])))
    if runs.overload is not None:
        seen.update(dict.fromkeys(e["impl"] for e in runs.overload.summary.get("experiments", [])))
    known = [v for v in KNOWN_ORDER if v in seen]
    return known + sorted(v for v in seen if v not in KNOWN_ORDER)


@dataclass
class Evidence:
    """One variant's figures, each None when no run measured it."""

    impl: str
    main_label: str | None = None  # the measured run the latency and cost come from
    p50_ms: dict[str, Range] = field(default_factory=dict)  # operation -> p50 at equal load
    p99_ms: dict[str, Range] = field(default_factory=dict)
    capacity: Range | None = None  # requests/s at the SLO, with its CI
    capacity_bound: str | None = None  # ">= 400" or "<= 100" when it is a bound
    # This variant's capacity over another's (by name), the ratio's CI from the benchmark's
    # comparisons (both sides' steps resampled together): the sharper test of a pair.
    capacity_over: dict[str, Range] = field(default_factory=dict)
    capacity_resolved: bool = False
    # The most goodput (answered within the SLO) any rate of the grid sustained, with its CI:
    # the steadier figure (docs/METHOD.md, Does it repeat?).
    plateau: Range | None = None
    cpu_per_1000: Range | None = None  # CPU seconds per 1,000 successful operations, all parts
    # Share of (fault, foreign operation) pairs not "up", over the crash matrices'
    # repetitions (every kill of a component); the gray matrix's (slow, silent, lossy faults)
    # apart: pooling the two would give a figure of neither.
    coupling_up: Range | None = None
    coupling_availability: Range | None = None
    gray_coupling_up: Range | None = None
    gray_coupling_availability: Range | None = None
    # The same share counting a partial answer (a view without its comments) as an answer,
    # pooled over the repetitions: what sync-resilient's fallbacks buy.
    coupling_answered: float | None = None
    faults_survived: int = 0  # faults after which every foreign operation stayed up
    faults_tried: int = 0
    recovery_s: Range | None = None  # the slowest operation's recovery, over every fault
    never_recovered: int = 0  # (fault, operation) cells that never came back
    lag_p99_ms: Range | None = None  # async: visibility lag at equal load
    ryw_final_ms: Range | None = None  # a comment's final status visible, from its ack (p50)
    immediately_consistent: bool = False  # reads go to the owners (sync)
    overload: dict[float, OverloadOutcome] = field(default_factory=dict)  # base multiple ->
    lost_writes: int = 0  # over every chaos and overload audit


@dataclass(frozen=True)
class OverloadOutcome:
    recovery_s: float | None
    metastable: bool
    valid: bool
    overloaded_at_base: bool = False  # not within the SLO at the base rate, before the spike


def gather(runs: Runs) -> dict[str, Evidence]:
    out = {impl: Evidence(impl) for impl in variants(runs)}
    if runs.bench is not None:
        _bench(runs.bench, out)
    coupling: dict[tuple[str, str], list[float | None]] = {}  # (field, impl) -> values
    crash = _CrashPool()
    for chaos in runs.chaos:
        _chaos(chaos, out, coupling, crash)
    for (name, impl), values in coupling.items():
        setattr(out.setdefault(impl, Evidence(impl)), name, _range(values))
    for impl, during in crash.answered.items():
        out.setdefault(impl, Evidence(impl)).coupling_answered = coupling_index(impl, *during)
    for impl, slowest in crash.slowest.items():
        out.setdefault(impl, Evidence(impl)).recovery_s = _range(slowest)
    if runs.overload is not None:
        _overload(runs.overload, out)
    return out


def main_label(doc: Mapping[str, Any]) -> str | None:
    """The measured run every variant has at the main scenario's rate (e.g. mixed@50), or
    else the first every variant has (a run of one scenario, e.g. read_heavy@50)."""
    aggregate = doc.get("aggregate", {})
    labels = [set(a.get("runs", {})) for a in aggregate.values()]
    common = sorted(set.intersection(*labels)) if labels else []
    main = [lbl for lbl in common if lbl.startswith(f"{MAIN_SCENARIO}@")]
    return (main or common or [None])[0]


def _bench(bench: Run, out: dict[str, Evidence]) -> None:
    doc = bench.summary
    label = main_label(doc)
    for pair, by_scenario in doc.get("comparisons", {}).get("capacity", {}).items():
        first, second = pair.split("|")
        cmp = by_scenario.get(MAIN_SCENARIO)
        if cmp and (ratio := Range.of_interval(cmp.get("ratio"))) is not None:
            out.setdefault(second, Evidence(second)).capacity_over[first] = ratio
    for impl, agg in doc.get("aggregate", {}).items():
        ev = out.setdefault(impl, Evidence(impl))
        ev.main_label = label
        run = agg.get("runs", {}).get(label) if label else None
        if run is not None:
            for op, o in run.get("operations", {}).items():
                if (r := Range.of_spread(o["latency_ms"].get("p50_ms"))) is not None:
                    ev.p50_ms[op] = r
                if (r := Range.of_spread(o["latency_ms"].get("p99_ms"))) is not None:
                    ev.p99_ms[op] = r
            ev.cpu_per_1000 = total_cpu(run.get("cpu_s_per_1000_ok", {}))
            lag = run.get("lag_ms", {}).get("visibility_lag_us", {}).get("p99_ms")
            ev.lag_p99_ms = Range.of_spread(lag)
        ryw = next(
            (r for lbl, r in agg.get("runs", {}).items() if lbl.startswith("read_your_writes@")),
            None,
        )
        if ryw is not None:
            ev.ryw_final_ms = Range.of_spread(
                ryw.get("probe_ms", {}).get("ryw_comment_final_us", {}).get("p50_ms")
            )
        ev.immediately_consistent = "lag_ms" not in (run or {}) or not (run or {}).get("lag_ms")
        cap = agg.get("capacity", {}).get(MAIN_SCENARIO)
        if cap is not None:
            interval = cap["implementation"]["capacity"]
            ev.capacity = Range.of_interval(interval)
            ev.capacity_resolved = bool(cap["implementation"].get("resolved"))
            ev.plateau = Range.of_interval(cap["implementation"].get("plateau"))
            if interval.get("kind") in ("lower_bound", "upper_bound") and interval.get("value"):
                sign = ">=" if interval["kind"] == "lower_bound" else "<="
                ev.capacity_bound = f"{sign} {interval['value']:.0f}"


def total_cpu(per_component: Mapping[str, Mapping[str, Any]]) -> Range | None:
    """Every component's CPU per 1,000 operations summed, repetition by repetition (each
    spread keeps its repetitions' values in run order)."""
    series = [s.get("values", []) for s in per_component.values()]
    if not series or any(len(v) != len(series[0]) for v in series):
        return None
    totals = [sum(vals) for vals in zip(*series, strict=True)]
    if not totals:
        return None
    return Range(median(totals), min(totals), max(totals), len(totals))


def is_gray_matrix(chaos: Run) -> bool:
    """A run of `lab chaos --gray-matrix` (slow, silent and lossy faults), not of kills."""
    return bool(chaos.meta.get("config", {}).get("gray_matrix"))


@dataclass
class _CrashPool:
    """What every crash-matrix run contributes, pooled by `gather` once all are read: per
    implementation each run's answered share per (fault, operation), and the slowest
    recovery of each (fault, operation) cell."""

    answered: dict[str, list[dict[str, dict[str, float | None]]]] = field(default_factory=dict)
    slowest: dict[str, list[float]] = field(default_factory=dict)


def _chaos(
    chaos: Run,
    out: dict[str, Evidence],
    coupling: dict[tuple[str, str], list[float | None]],
    crash: _CrashPool,
) -> None:
    """A chaos run's figures: its coupling index's repetitions into `coupling` and a crash
    matrix's answered shares and recoveries into `crash` (pooled over the runs of its kind by
    the caller); faults tried and survived into `out`; every run's lost writes."""
    matrix = chaos.summary.get("matrix", {})
    per_rep = matrix.get("coupling_index_per_repetition", {})
    for e in chaos.summary.get("experiments", []):
        lost = e.get("audit", {}).get("total", {}).get("lost", 0)
        out.setdefault(e["impl"], Evidence(e["impl"])).lost_writes += int(lost)
    prefix = "gray_" if is_gray_matrix(chaos) else ""
    for measure in ("up", "availability"):
        for impl, values in per_rep.get(measure, {}).items():
            coupling.setdefault((f"{prefix}coupling_{measure}", impl), []).extend(values)
    if prefix:
        return
    answered: dict[str, dict[str, dict[str, float | None]]] = {}
    for fault, by_op in matrix.get("rows", {}).items():
        for op, by_impl in by_op.items():
            for impl, mc in by_impl.items():
                answered.setdefault(impl, {}).setdefault(fault, {})[op] = mc["cell"].get("answered")
    for impl, during in answered.items():
        crash.answered.setdefault(impl, []).append(during)
    for by_op in matrix.get("rows", {}).values():
        per_impl: dict[str, bool] = {}
        for by_impl in by_op.values():
            for impl, cell in by_impl.items():
                ev = out.setdefault(impl, Evidence(impl))
                ev.never_recovered += int(cell.get("never_recovered", 0))
                rec = cell.get("recovery_s")
                if rec:
                    crash.slowest.setdefault(impl, []).append(float(rec["max"]))
                if cell.get("foreign", True) and cell["cell"].get("up") is False:
                    per_impl[impl] = False
                per_impl.setdefault(impl, True)
        for impl, survived in per_impl.items():
            out[impl].faults_tried += 1
            out[impl].faults_survived += survived


def _overload(overload: Run, out: dict[str, Evidence]) -> None:
    for e in overload.summary.get("experiments", []):
        ev = out.setdefault(e["impl"], Evidence(e["impl"]))
        read = judged(overload, e)
        ev.overload[float(e["base"])] = OverloadOutcome(
            read.get("recovery_s"),
            bool(read.get("metastable")),
            bool(e.get("valid")),
            bool(read.get("overloaded_at_base")),
        )
        ev.lost_writes += int(e.get("audit", {}).get("total", {}).get("lost", 0))


def _range(values: Sequence[float | None]) -> Range | None:
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Range(median(present), min(present), max(present), len(present))
