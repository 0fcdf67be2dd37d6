"""The plain-text tables `lab bench` prints at the end: every figure as median [min-max] over the
repetitions, and sync vs async marked only where the ranges do not overlap (docs/METHOD.md,
Noise)."""

from __future__ import annotations

from benchmarks.suite.profiles import SLO_P99_MS
from benchmarks.suite.results import CapacityAggregate, Comparisons, RunAggregate, SummaryDocument
from benchmarks.suite.stats import Spread

MARKS = {"sync": "sync<", "async": "async<", "~": "~", "n/a": ""}
CAPACITY_VERDICTS = {
    "sync": "sync higher, beyond the spread",
    "async": "async higher, beyond the spread",
    "~": "no significant difference",
    "n/a": "one repetition: no verdict",
}


def fmt(s: Spread | None, digits: int = 1) -> str:
    if s is None:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def table(doc: SummaryDocument) -> str:
    n = doc["repetitions"]
    lines = [
        f"{n} repetition(s), implementations interleaved; figures: median [min-max]; "
        "'sync<'/'async<': lower p99 beyond the spread, '~': no significant difference"
    ]
    for impl, agg in doc["aggregate"].items():
        lines.append("")
        lines.append(
            f"{'impl':6} {'run / operation':32} {'p50 ms':>20} {'p99 ms':>20} "
            f"{'x floor':>8} {'x bare':>8} {'p99':>6}"
        )
        for label, run in agg["runs"].items():
            lines += run_lines(impl, label, run, doc["comparisons"])
        for scenario, cap in agg["capacity"].items():
            lines.append(capacity_line(impl, scenario, cap))
    if doc["comparisons"]["capacity"]:
        lines.append("")
        for scenario, cmp in doc["comparisons"]["capacity"].items():
            lines.append(f"capacity {scenario}: {CAPACITY_VERDICTS[cmp['verdict']]}")
    return "\n".join(lines)


def run_lines(impl: str, label: str, run: RunAggregate, cmp: Comparisons) -> list[str]:
    lines = [f"{impl:6} {label:32} achieved {fmt(run['achieved_rate'])}/s"]
    lines += [f"{'':6}   INVALID {why}" for why in run["invalid"]]
    for op, o in run["operations"].items():
        verdict = cmp["latency"].get(label, {}).get(op, {}).get("p99_ms")
        lines.append(
            f"{'':6}   {op:30} {fmt(o['latency_ms'].get('p50_ms'), 2):>20} "
            f"{fmt(o['latency_ms'].get('p99_ms'), 2):>20} "
            f"{fmt(o['vs_floor'], 2) if o['vs_floor'] else '-':>8} "
            f"{fmt(o['vs_bare_chain'], 2) if o['vs_bare_chain'] else '-':>8} "
            f"{MARKS[verdict['verdict']] if verdict else '':>6}"
        )
    for name, pcts in run["lag_ms"].items():
        if name in ("visibility_lag_us", "comment_status_lag_us"):
            lines.append(
                f"{'':6}   lag {name:26} {fmt(pcts.get('p50_ms'), 2):>20} "
                f"{fmt(pcts.get('p99_ms'), 2):>20}"
            )
    for name, pcts in run["probe_ms"].items():
        lines.append(
            f"{'':6}   probe {name:24} {fmt(pcts.get('p50_ms'), 2):>20} "
            f"{fmt(pcts.get('p99_ms'), 2):>20}"
        )
    return lines


def cap_n(cap: CapacityAggregate) -> int:
    return cap["capacity_rate"]["n"] if cap["capacity_rate"] else 0


def capacity_line(impl: str, scenario: str, cap: CapacityAggregate) -> str:
    flags = cap["flags"]
    notes = []
    if flags["lower_bound"]:
        notes.append(f"never missed in rep {flags['lower_bound']}: at least this")
    if flags["over_bare_chain"]:
        notes.append(f"MEASUREMENT PROBLEM: above its bare chain in rep {flags['over_bare_chain']}")
    moved = cap["relative_range"]
    return (
        f"{impl:6} capacity at SLO (p99<={SLO_P99_MS:g} ms, errors<=0.1%) {scenario}: "
        f"{fmt(cap['capacity_rate'], 0)}/s"
        + (f" (moved {moved:.0%})" if moved is not None and cap_n(cap) > 1 else "")
        + f"; bare chain of the same shape: {fmt(cap['bare_chain_rate'], 0)}/s"
        + (f"; share {fmt(cap['share_of_bare_chain'], 2)}" if cap["share_of_bare_chain"] else "")
        + (f" ({'; '.join(notes)})" if notes else "")
    )
