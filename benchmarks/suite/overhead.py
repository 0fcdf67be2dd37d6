"""What the resilience patterns cost when nothing fails (docs/METHOD.md, Resilience): sync-resilient
against plain sync in the same benchmark run, per measured run and operation, as the ratio of
their p50s (and p99s) within each repetition, and of the CPU their processes spent per 1,000
successful requests. Paired by repetition: the two ran back to back on the same machine, so a
drift between repetitions cancels in each ratio (as vs_bare_chain's does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from benchmarks.suite.results import (
    MeasuredRun,
    OperationOverhead,
    OverheadReading,
    Repetition,
    RunOverhead,
)
from benchmarks.suite.stats import Spread, spread, verdict

BASE, VARIANT = "sync", "sync-resilient"
SERVICES = ("posts", "comments", "moderation", "query")  # cost components of the processes
_READING: dict[str, OverheadReading] = {
    "sync": "sync lower",
    "async": "sync-resilient lower",
    "~": "~",
    "n/a": "n/a",
}


def pattern_overhead(reps: Sequence[Repetition]) -> dict[str, RunOverhead]:
    """Per measured run label both variants ran: the overhead figures (empty when a side is
    missing)."""
    pairs = [
        (r["impls"][BASE]["runs"], r["impls"][VARIANT]["runs"])
        for r in reps
        if BASE in r["impls"] and VARIANT in r["impls"]
    ]
    labels = list(dict.fromkeys(label for base, _ in pairs for label in base))
    out: dict[str, RunOverhead] = {}
    for label in labels:
        runs = [(b[label], v[label]) for b, v in pairs if label in b and label in v]
        if runs:
            out[label] = _run_overhead(runs)
    return out


def _run_overhead(runs: list[tuple[MeasuredRun, MeasuredRun]]) -> RunOverhead:
    ops = list(dict.fromkeys(op for base, _ in runs for op in base["operations"]))
    operations: dict[str, OperationOverhead] = {}
    for op in ops:
        p50s = [(_pct(b, op, "p50_ms"), _pct(v, op, "p50_ms")) for b, v in runs]
        p99s = [(_pct(b, op, "p99_ms"), _pct(v, op, "p99_ms")) for b, v in runs]
        base_p50 = spread(b for b, _ in p50s)
        variant_p50 = spread(v for _, v in p50s)
        operations[op] = {
            "p50_ratio": spread(_ratio(v, b) for b, v in p50s),
            "p99_ratio": spread(_ratio(v, b) for b, v in p99s),
            "p50_verdict": (
                _READING[verdict(base_p50, variant_p50)] if base_p50 and variant_p50 else "n/a"
            ),
        }
    return {
        "operations": operations,
        "services_cpu_ratio": spread(_ratio(_cpu(v), _cpu(b)) for b, v in runs),
    }


def _pct(run: MeasuredRun, op: str, pct: Literal["p50_ms", "p99_ms"]) -> float | None:
    found = run["operations"].get(op)
    return found["latency_ms"].get(pct) if found else None


def _cpu(run: MeasuredRun) -> float | None:
    usage = run["cost"]["per_1000_ok"]
    if not all(name in usage for name in SERVICES):
        return None
    return sum(usage[name]["cpu_s"] for name in SERVICES)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def overhead_lines(overhead: dict[str, RunOverhead]) -> list[str]:
    """The table `lab bench` prints: ratios as median [min-max] over the repetitions."""
    if not overhead:
        return []
    lines = ["", "the resilience patterns at normal load: sync-resilient / sync, per repetition"]
    for label, run in overhead.items():
        lines.append(f"  {label}: services' CPU per 1,000 ok x{_fmt(run['services_cpu_ratio'])}")
        for op, o in run["operations"].items():
            lines.append(
                f"    {op:28} p50 x{_fmt(o['p50_ratio'])}  p99 x{_fmt(o['p99_ratio'])}  "
                f"p50 ranges: {o['p50_verdict']}"
            )
    return lines


def _fmt(s: Spread | None) -> str:
    if s is None:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{s['median']:.3f}"
    return f"{s['median']:.3f} [{s['min']:.3f}-{s['max']:.3f}]"
