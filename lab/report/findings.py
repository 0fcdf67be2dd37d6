"""The findings the report leads with: sentences computed from the runs, each pointing at the
table or figure behind it. When the data cannot support a sentence, the sentence says so. The
benchmark's findings are here; the chaos runs' in lab/report/chaos_findings.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.suite.profiles import SLO_ERROR_RATE, SLO_P99_MS
from benchmarks.suite.results import Comparison
from benchmarks.suite.stats import Spread, spread
from lab.report import chaos_findings, fmt, sections
from lab.report.model import IMPLS, Finding, swept_scenarios
from lab.report.sources import BenchRun, Runs

__all__ = ["Finding", "findings"]


def findings(runs: Runs) -> list[Finding]:
    """Every finding: a failed run first, then when each style is better and by how much, what
    a fault takes away, and the audit."""
    out: list[Finding] = []
    if runs.bench is not None:
        out += latency(runs.bench)
        out += capacity(runs.bench)
        out += lag(runs.bench)
        out += cost(runs.bench)
    else:
        out.append(
            Finding(
                "latency",
                "No benchmark run was given: no latency, capacity, "
                "visibility lag or cost findings.",
                sections.METHOD,
            )
        )
    if runs.chaos:
        out += chaos_findings.databases_down(runs.chaos)
        out += chaos_findings.recovery(runs.chaos)
        out += chaos_findings.lost_writes(runs.chaos)
    else:
        out.append(
            Finding(
                "availability",
                "No chaos run was given: nothing on availability "
                "under faults, recovery or lost writes.",
                sections.METHOD,
            )
        )
    return sorted(out, key=lambda f: not f.failed)  # stable: the rest keep their order


# --- latency ---------------------------------------------------------------------------------
def label_rate(doc: dict[str, Any], label: str) -> str:
    """A run's label as words, e.g. "mixed at 50/s offered" (the label when it has no rate)."""
    for impl in IMPLS:
        run = doc.get("aggregate", {}).get(impl, {}).get("runs", {}).get(label)
        if run is not None:
            rate = run.get("offered_rate")
            return f"{run['scenario']} at {fmt.rate(rate)} offered" if rate else label
    return label


def p99_sentence(op: str, cmp: Comparison) -> str:
    """Which side had the lower p99, by how much, or why that cannot be said."""
    s, a = cmp["sides"]["sync"], cmp["sides"]["async"]
    both = f"sync {fmt.spread(s, 'ms')}, async {fmt.spread(a, 'ms')}"
    verdict, ratio = cmp["verdict"], cmp["ratio"]
    if verdict == "sync" and ratio:
        return f"{op}: sync lower, async's p99 {fmt.ratio(ratio)} sync's ({both})"
    if verdict == "async" and ratio:
        return f"{op}: async lower, sync's p99 {fmt.ratio(1 / ratio)} async's ({both})"
    if verdict == "~":
        return f"{op}: no significant difference, the ranges overlap ({both})"
    return f"{op}: not enough repetitions to tell (n = {s['n']} and {a['n']}; {both})"


def latency(bench: BenchRun) -> list[Finding]:
    doc = bench.doc
    compared = doc.get("comparisons", {}).get("latency", {})
    if not compared:
        return [
            Finding(
                "latency",
                "No sync-versus-async latency comparison: the benchmark run did not measure "
                "both implementations at the same load.",
                sections.LATENCY,
            )
        ]
    out = []
    for label, ops in compared.items():
        details = tuple(
            p99_sentence(op, pcts["p99_ms"]) for op, pcts in ops.items() if "p99_ms" in pcts
        )
        counts = [c["verdict"] for pcts in ops.values() for p, c in pcts.items() if p == "p99_ms"]
        said = {
            "sync": "sync lower",
            "async": "async lower",
            "~": "no significant difference",
            "n/a": "not enough repetitions to tell",
        }
        parts = [f"{what} for {counts.count(v)}" for v, what in said.items() if v in counts]
        text = (
            f"p99 latency at equal load, {label_rate(doc, label)} (median [min–max] over "
            f"repetitions): {fmt.join(parts)} of {fmt.plural(len(counts), 'operation')}."
        )
        out.append(Finding("latency", text, sections.LATENCY, details))
    return out


# --- capacity --------------------------------------------------------------------------------
def slo_text(doc: dict[str, Any]) -> str:
    for rep in doc.get("reps", []):
        for result in rep["impls"].values():
            for cap in result.get("capacity", {}).values():
                slo = cap["slo"]
                return f"p99 ≤ {slo['p99_ms']:g} ms, errors ≤ {fmt.share(slo['error_rate'])}"
    return f"p99 ≤ {SLO_P99_MS:g} ms, errors ≤ {fmt.share(SLO_ERROR_RATE)}"


def reps_text(reps: Sequence[int]) -> str:
    return ("repetition " if len(reps) == 1 else "repetitions ") + fmt.join([str(r) for r in reps])


def capacity_side(impl: str, cap: dict[str, Any] | None) -> str:
    if not cap or not cap.get("capacity_rate"):
        return f"{impl} met the SLO at no rate tried"
    text = f"{impl} {fmt.spread(cap['capacity_rate'], 'req/s')}"
    flags = cap.get("flags", {})
    notes = []
    if cap.get("share_of_bare_chain"):
        notes.append(f"{fmt.spread(_percent(cap['share_of_bare_chain']), '%')} of its bare chain")
    if flags.get("over_bare_chain"):
        notes.append(
            f"above its own bare chain's in {reps_text(flags['over_bare_chain'])}: a "
            "measurement problem, no share shown"
        )
    if flags.get("lower_bound"):
        notes.append(f"a lower bound in {reps_text(flags['lower_bound'])} (no rate missed)")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _percent(s: Spread) -> Spread:
    return {
        "median": s["median"] * 100,
        "min": s["min"] * 100,
        "max": s["max"] * 100,
        "n": s["n"],
        "values": [v * 100 for v in s["values"]],
    }


def capacity(bench: BenchRun) -> list[Finding]:
    doc = bench.doc
    agg = doc.get("aggregate", {})
    scenarios = swept_scenarios(doc)
    if not scenarios:
        return [Finding("capacity", "No capacity sweep in the benchmark run.", sections.LOAD)]
    out = []
    for scenario in scenarios:
        sides = [
            capacity_side(impl, dict(agg[impl]["capacity"].get(scenario) or {}))
            for impl in IMPLS
            if impl in agg
        ]
        cmp = doc.get("comparisons", {}).get("capacity", {}).get(scenario)
        if cmp is None:
            verdict = "no comparison (one side has no capacity)"
        elif cmp["verdict"] == "~":
            verdict = "no significant difference (the ranges overlap)"
        elif cmp["verdict"] == "n/a":
            verdict = "not enough repetitions to tell"
        elif cmp["ratio"]:
            hi = cmp["verdict"]
            factor = cmp["ratio"] if hi == "async" else 1 / cmp["ratio"]
            lo = "sync" if hi == "async" else "async"
            verdict = f"{hi} higher, {fmt.ratio(factor)} {lo}'s (ranges disjoint)"
        else:
            verdict = f"{cmp['verdict']} higher"
        text = (
            f"Capacity at the SLO ({slo_text(doc)}), {scenario}: {'; '.join(sides)}. "
            f"{verdict[0].upper()}{verdict[1:]}."
        )
        out.append(Finding("capacity", text, sections.LOAD))
    return out


# --- visibility lag --------------------------------------------------------------------------
def lag(bench: BenchRun) -> list[Finding]:
    doc = bench.doc
    agg = doc.get("aggregate", {})
    runs = agg.get("async", {}).get("runs", {})
    out = []
    for label, run in runs.items():
        server = run.get("lag_ms", {}).get("visibility_lag_us")
        if not server:
            continue
        status = run.get("lag_ms", {}).get("comment_status_lag_us", {})
        text = (
            f"Async pays a visibility lag (event to read model, server side, "
            f"{label_rate(doc, label)}): p50 {fmt.spread(server.get('p50_ms'), 'ms')}, p99 "
            f"{fmt.spread(server.get('p99_ms'), 'ms')}"
            + (
                f"; a comment's final status shows after p99 "
                f"{fmt.spread(status.get('p99_ms'), 'ms')}"
                if status.get("p99_ms")
                else ""
            )
            + ". Sync has no copy to lag."
        )
        out.append(Finding("lag", text, sections.LAG))
        break
    for label in dict.fromkeys(lbl for impl in IMPLS for lbl in agg.get(impl, {}).get("runs", {})):
        probes = {
            impl: agg[impl]["runs"][label].get("probe_ms", {}).get("ryw_post_visible_us", {})
            for impl in IMPLS
            if label in agg.get(impl, {}).get("runs", {})
        }
        probes = {impl: p for impl, p in probes.items() if p.get("p99_ms")}
        if not probes:
            continue
        sides = ", ".join(f"{impl} {fmt.spread(p['p99_ms'], 'ms')}" for impl, p in probes.items())
        out.append(
            Finding(
                "lag",
                f"Read-your-writes probe ({label_rate(doc, label)}): a new post is visible "
                f"through the query service after p99 {sides} (acknowledgement to the first "
                "read that shows it).",
                sections.LAG,
            )
        )
        break
    if not out:
        out.append(Finding("lag", "The benchmark run holds no visibility lag.", sections.LAG))
    return out


# --- cost ------------------------------------------------------------------------------------
def main_label(doc: dict[str, Any]) -> str | None:
    """The run the cost is read at: the first compared label, else the first measured."""
    compared = list(doc.get("comparisons", {}).get("latency", {}))
    if compared:
        return compared[0]
    for impl in IMPLS:
        labels = list(doc.get("aggregate", {}).get(impl, {}).get("runs", {}))
        if labels:
            return labels[0]
    return None


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


def cost(bench: BenchRun) -> list[Finding]:
    doc = bench.doc
    label = main_label(doc)
    if label is None:
        return [Finding("cost", "The benchmark run measured no cost.", sections.COST)]
    sides = []
    for impl in IMPLS:
        cpu = cost_spread(doc, impl, label, "cpu_s")
        if cpu is not None:
            sides.append(f"{impl} {fmt.spread(cpu, 'CPU s')}")
    if not sides:
        return [Finding("cost", "The benchmark run measured no cost.", sections.COST)]
    bus = cost_spread(doc, "async", label, "server_in_msgs")
    text = (
        f"Cost per 1,000 successful operations, every component together "
        f"({label_rate(doc, label)}): {'; '.join(sides)}"
        + (f". Async's bus carries {fmt.spread(bus)} messages in per operation" if bus else "")
        + "."
    )
    return [Finding("cost", text, sections.COST)]
