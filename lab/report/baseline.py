"""The benchmark run against a baseline run of the same suite (`lab report --baseline RUN_ID`):
what a change did to each implementation, by the rule that compares sync with async: a
difference only when the two runs' ranges over repetitions do not overlap (docs/METHOD.md,
Noise). Two runs are hours apart, not interleaved, so a drift of the machine between them is
not cancelled; the section says so rather than hiding it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from benchmarks.suite.stats import Spread, spread, verdict
from lab.report import fmt, sections
from lab.report.evidence import main_label
from lab.report.findings import Finding
from lab.report.sources import BenchRun
from lab.report.tables import impls_of, table

PERCENTILES = ("p50_ms", "p99_ms")
SIDES = ("baseline", "this run")  # the column names of the two sides
# stats.verdict names the lower side "sync" (here: the baseline) or "async" (here: this run).
_CHANGE = {"sync": "higher", "async": "lower", "~": "~", "n/a": "n/a"}


def change(before: Spread | None, after: Spread | None) -> str:
    """'0.812× lower' when this run's range lies below the baseline's, '~' when they overlap."""
    if before is None or after is None:
        return "-"
    ratio = f"{fmt.num(after['median'] / before['median'])}× " if before["median"] else ""
    return ratio + _CHANGE[verdict(before, after)]


def _commit(run: BenchRun) -> str:
    return run.commit[:12]


def cost_spread(doc: dict[str, Any], impl: str, label: str, what: str) -> Spread | None:
    """Over repetitions: total CPU seconds per 1,000 successful operations (what="cpu_s"),
    or a bus counter per operation (what = a bus_per_op key)."""
    values = []
    for rep in doc.get("reps", []):
        run = rep["impls"].get(impl, {}).get("runs", {}).get(label)
        if run is None:
            continue
        c = run["cost"]
        if what == "cpu_s":
            values.append(sum(u["cpu_s"] for u in c["per_1000_ok"].values()))
        else:
            values.append(c.get("bus_per_op", {}).get(what))
    return spread(values)


def _as_spread(interval: dict[str, Any] | None) -> Spread | None:
    """A capacity's CI read as a range, so the one rule compares it like a spread."""
    if not interval or interval.get("kind") != "estimate" or interval.get("low") is None:
        return None
    return {
        "median": interval["value"],
        "min": interval["low"],
        "max": interval["high"],
        "n": 2,
        "values": [],
    }


def _aggregate(run: BenchRun, impl: str) -> dict[str, Any]:
    return dict(run.doc.get("aggregate", {}).get(impl) or {})


def _run(run: BenchRun, impl: str, label: str) -> dict[str, Any]:
    return dict(_aggregate(run, impl).get("runs", {}).get(label) or {})


def _costs(run: BenchRun, impl: str, label: str) -> Iterator[dict[str, Any]]:
    """Each repetition's cost record at `label` (summary.json's reps[].impls[impl].runs)."""
    for rep in run.doc.get("reps", []):
        cost = rep["impls"].get(impl, {}).get("runs", {}).get(label, {}).get("cost")
        if cost:
            yield cost


def _transactions(run: BenchRun, impl: str, label: str, database: str) -> Spread | None:
    counts = (c.get("db_transactions_per_op", {}) for c in _costs(run, impl, label))
    return spread(c.get(database) for c in counts)


def _databases(runs: tuple[BenchRun, BenchRun], impl: str, label: str) -> list[str]:
    """The databases whose transactions either run counted at `label`."""
    return list(
        dict.fromkeys(
            name
            for run in runs
            for c in _costs(run, impl, label)
            for name in c.get("db_transactions_per_op", {})
        )
    )


def _latencies(
    bench: BenchRun, baseline: BenchRun, impl: str
) -> Iterator[tuple[str, Spread | None, Spread | None]]:
    """(what, baseline, this run) for p50 and p99 of each operation at each load both ran."""
    for label, now in _aggregate(bench, impl).get("runs", {}).items():
        before = _run(baseline, impl, label).get("operations", {})
        for op, figures in now.get("operations", {}).items():
            if op in before:
                for p in PERCENTILES:
                    yield (
                        f"{label} {op} {p.removesuffix('_ms')}",
                        before[op]["latency_ms"].get(p),
                        figures["latency_ms"].get(p),
                    )


def _row(what: str, before: Spread | None, after: Spread | None) -> list[str]:
    return [what, fmt.spread(before), fmt.spread(after), change(before, after)]


def _cost_rows(bench: BenchRun, baseline: BenchRun, impl: str, label: str) -> list[list[str]]:
    now = _run(bench, impl, label).get("cpu_s_per_1000_ok", {})
    before = _run(baseline, impl, label).get("cpu_s_per_1000_ok", {})
    rows = [
        _row(f"CPU s / 1,000 ok: {c}", before.get(c), now.get(c))
        for c in dict.fromkeys([*before, *now])
    ]
    rows.append(
        _row(
            "CPU s / 1,000 ok: every component",
            cost_spread(baseline.doc, impl, label, "cpu_s"),
            cost_spread(bench.doc, impl, label, "cpu_s"),
        )
    )
    rows += [
        _row(
            f"database transactions per op: {name}",
            _transactions(baseline, impl, label, name),
            _transactions(bench, impl, label, name),
        )
        for name in _databases((bench, baseline), impl, label)
    ]
    return rows


def section(bench: BenchRun, baseline: BenchRun) -> list[str]:
    """The Markdown of the comparison, with its heading (REPORT.md's section)."""
    reps = f"{baseline.doc.get('repetitions', '-')} and {bench.doc.get('repetitions', '-')}"
    return [
        f"## {sections.BASELINE}",
        "",
        f"This run `{bench.run_id}` (commit `{_commit(bench)}`) against the baseline "
        f"`{baseline.run_id}` (commit `{_commit(baseline)}`), {reps} repetitions, median "
        "[min–max]; change: this run's median over the baseline's, and lower or higher only when "
        "the ranges do not overlap (~ otherwise). The two runs were not interleaved: a drift of "
        "the machine between them shows here too, so a change the code explains is one that "
        "also moves the counters of its cost.",
        "",
        *tables(bench, baseline),
    ]


def tables(bench: BenchRun, baseline: BenchRun, sides: tuple[str, str] = SIDES) -> list[str]:
    """Per implementation: latency per operation at every load both runs measured, cost per
    component at the main load, and capacity; `sides` names the columns (old, new)."""
    columns = ["figure", *sides, "change"]
    out: list[str] = []
    label = main_label(bench.doc)
    for impl in impls_of(bench.doc):
        latency = [_row(*figures) for figures in _latencies(bench, baseline, impl)]
        if latency:
            out += [f"**{impl}: latency, ms**", "", *table(columns, latency)]
        if label and _run(bench, impl, label) and _run(baseline, impl, label):
            out += [f"**{impl}: cost at {fmt.label_rate(label)}**", ""]
            out += table(columns, _cost_rows(bench, baseline, impl, label))
        before = _aggregate(baseline, impl).get("capacity", {})
        capacity = [
            _row(
                f"capacity at the SLO, {scenario}, req/s",
                _as_spread(before[scenario]["implementation"]["capacity"]),
                _as_spread(cap["implementation"]["capacity"]),
            )
            for scenario, cap in _aggregate(bench, impl).get("capacity", {}).items()
            if scenario in before
        ]
        if capacity:
            out += [f"**{impl}: capacity**", "", *table(columns, capacity)]
    return out


def finding(bench: BenchRun, baseline: BenchRun) -> Finding:
    """REPORT.md's finding: the details below, under the baseline's name."""
    return Finding(
        "baseline",
        f"Against the baseline run {baseline.run_id} (commit {_commit(baseline)}; not "
        "interleaved with this run):",
        sections.BASELINE,
        tuple(details(bench, baseline)),
    )


def details(bench: BenchRun, baseline: BenchRun) -> list[str]:
    """Per implementation: how many latency figures moved beyond both spreads, the total CPU
    per operation, and each database's transactions per operation that moved."""
    label = main_label(bench.doc) or ""
    out = []
    for impl in impls_of(bench.doc):
        moved = [
            _CHANGE[verdict(before, after)]
            for _, before, after in _latencies(bench, baseline, impl)
            if before and after
        ]
        if not moved:
            continue
        within = len(moved) - moved.count("lower") - moved.count("higher")
        parts = [
            f"of {len(moved)} latency figures (p50 and p99 per operation and load) "
            f"{moved.count('lower')} lower, {moved.count('higher')} higher, {within} within "
            "the spread"
        ]
        cpu_before = cost_spread(baseline.doc, impl, label, "cpu_s")
        cpu_now = cost_spread(bench.doc, impl, label, "cpu_s")
        if cpu_before and cpu_now:
            parts.append(
                f"CPU s per 1,000 ok at {label} {fmt.spread(cpu_before)} → "
                f"{fmt.spread(cpu_now)} ({change(cpu_before, cpu_now)})"
            )
        for name in _databases((bench, baseline), impl, label):
            a = _transactions(baseline, impl, label, name)
            b = _transactions(bench, impl, label, name)
            if a and b and verdict(a, b) in ("sync", "async"):
                parts.append(
                    f"{name} database transactions per operation {fmt.spread(a)} → "
                    f"{fmt.spread(b)} ({change(a, b)})"
                )
        out.append(f"{impl}: " + "; ".join(parts))
    return out
