"""The plain-text tables `lab bench` prints at the end: every figure as median [min-max] over the
repetitions, each implementation's p99 marked lower than another's only where the ranges do not
overlap (docs/METHOD.md, Noise), and each capacity with its confidence interval."""

from __future__ import annotations

from benchmarks.suite.capacity_fit import Interval
from benchmarks.suite.overhead import overhead_lines
from benchmarks.suite.profiles import SLO_P99_MS
from benchmarks.suite.results import (
    CapacityAggregate,
    Comparisons,
    CurveFigures,
    RunAggregate,
    SummaryDocument,
)
from benchmarks.suite.stats import Spread


def mark(verdict: str) -> str:
    """A comparison's verdict as the table shows it: the lower side's name, or ~."""
    return {"~": "~", "n/a": ""}.get(verdict, f"{verdict}<")


def interval_text(i: Interval, digits: int = 0) -> str:
    if i["value"] is None:
        return "-"
    value = f"{i['value']:.{digits}f}"
    if i["kind"] == "lower_bound":
        return f">= {value}"
    if i["kind"] == "upper_bound":
        return f"<= {value}"
    if i["kind"] == "none":
        return "n/a (bounds only)"
    if i["low"] is None or i["high"] is None:
        return value
    return f"{value} [{i['low']:.{digits}f}-{i['high']:.{digits}f}]"


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
        "'X<': X's p99 lower beyond the spread, '~': no significant difference; capacity: "
        "estimate [95 % CI] from every step of every repetition"
    ]
    for impl, agg in doc["aggregate"].items():
        lines.append("")
        lines.append(
            f"{'impl':14} {'run / operation':32} {'p50 ms':>20} {'p99 ms':>20} "
            f"{'x floor':>8} {'x bare':>8} {'p99':>6}"
        )
        for label, run in agg["runs"].items():
            lines += run_lines(impl, label, run, doc["comparisons"])
        for scenario, cap in agg["capacity"].items():
            lines.append(capacity_line(impl, scenario, cap))
    for pair, by_scenario in doc["comparisons"]["capacity"].items():
        a, b = pair.split("|")
        for scenario, cmp in by_scenario.items():
            verdict = cmp["verdict"]
            said = {"~": "no significant difference", "n/a": "no verdict"}.get(
                verdict, f"{verdict} higher beyond the CI"
            )
            lines.append(
                f"capacity {scenario}: {b} / {a} = {interval_text(cmp['ratio'], 2)}: {said}"
            )
    lines += overhead_lines(doc.get("pattern_overhead", {}))
    return "\n".join(lines)


def run_lines(impl: str, label: str, run: RunAggregate, cmp: Comparisons) -> list[str]:
    lines = [f"{impl:14} {label:32} achieved {fmt(run['achieved_rate'])}/s"]
    lines += [f"{'':14}   INVALID {why}" for why in run["invalid"]]
    for op, o in run["operations"].items():
        verdicts = [
            by_label[label][op]["p99_ms"]["verdict"]
            for by_label in cmp["latency"].values()
            if "p99_ms" in by_label.get(label, {}).get(op, {})
            and impl in by_label[label][op]["p99_ms"]["sides"]
        ]
        wins = [v for v in verdicts if v == impl]
        lines.append(
            f"{'':14}   {op:30} {fmt(o['latency_ms'].get('p50_ms'), 2):>20} "
            f"{fmt(o['latency_ms'].get('p99_ms'), 2):>20} "
            f"{fmt(o['vs_floor'], 2) if o['vs_floor'] else '-':>8} "
            f"{fmt(o['vs_bare_chain'], 2) if o['vs_bare_chain'] else '-':>8} "
            f"{mark(impl) if wins else ('~' if '~' in verdicts else ''):>6}"
        )
    for name, pcts in run["lag_ms"].items():
        if name in ("visibility_lag_us", "comment_status_lag_us"):
            lines.append(
                f"{'':14}   lag {name:26} {fmt(pcts.get('p50_ms'), 2):>20} "
                f"{fmt(pcts.get('p99_ms'), 2):>20}"
            )
    for name, pcts in run["probe_ms"].items():
        lines.append(
            f"{'':14}   probe {name:24} {fmt(pcts.get('p50_ms'), 2):>20} "
            f"{fmt(pcts.get('p99_ms'), 2):>20}"
        )
    return lines


def curve_text(c: CurveFigures) -> str:
    return (
        f"{interval_text(c['capacity'])}/s"
        + (f" (+-{c['half_width']:.0%})" if c["half_width"] is not None else "")
        + ("" if c["resolved"] else " NOT RESOLVED")
        + f", knee {interval_text(c['knee'])}/s, plateau {interval_text(c['plateau'])}/s"
        + f", {c['steps']} steps"
        + (f", {len(c['invalid_steps'])} invalid" if c["invalid_steps"] else "")
    )


def capacity_line(impl: str, scenario: str, cap: CapacityAggregate) -> str:
    line = (
        f"{impl:14} capacity at SLO (p99<={SLO_P99_MS:g} ms, errors<=0.1%) {scenario}: "
        f"{curve_text(cap['implementation'])}"
    )
    if "bare_chain" not in cap or "share_of_bare_chain" not in cap:
        return line + "; bare chain not swept"
    return (
        line
        + f"; bare chain of the same shape: {curve_text(cap['bare_chain'])}; "
        + f"share {interval_text(cap['share_of_bare_chain'], 2)}"
    )
