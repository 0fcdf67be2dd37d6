"""A plain-text table of every run (printed by `lab bench` when no report exists)."""

from __future__ import annotations

from benchmarks.suite.profiles import SLO_P99_MS
from benchmarks.suite.results import ImplResult, MeasuredRun, ScenarioCapacity, SummaryDocument

HEAD = (
    f"{'impl':6} {'run':24} {'operation':15} {'ok':>7} {'err':>5} {'p50':>7} {'p90':>7} "
    f"{'p99':>7} {'p99.9':>7} {'x floor':>7}"
)
INDENT = f"{'':6} {'':24}"


def table(summary_doc: SummaryDocument) -> str:
    """Per implementation: a header, each run's lines, each scenario's capacity, a blank line."""
    lines = []
    for impl, r in summary_doc["impls"].items():
        lines.append(HEAD)
        for label, run in r["runs"].items():
            lines += run_lines(impl, label, run)
        lines += capacity_lines(impl, r)
        lines.append("")
    return "\n".join(lines)


def run_lines(impl: str, label: str, run: MeasuredRun) -> list[str]:
    offered = run["offered_rate"]
    cpu = run["generator_cpu_percent"]["mean"]
    steal = run.get("machine", {}).get("steal_percent")
    lines = [
        f"{impl:6} {label:24} offered {offered or '-'}/s "
        f"achieved {run['achieved_rate']:.1f}/s errors {run['error_rate']:.2%} "
        f"generator CPU {cpu:.0f}%"
        + (" SATURATED" if run["generator_saturated"] else "")
        + (f" steal {steal:.1f}%" if steal is not None else "")
    ]
    for op, o in run["operations"].items():
        lat = o["latency_ms"]
        ratio = run["vs_floor"].get(op)
        lines.append(
            f"{INDENT} {op:15} {o['ok']:>7} {sum(o['errors'].values()):>5} "
            + " ".join(
                f"{lat.get(k, float('nan')):7.2f}"
                for k in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms")
            )
            + (f" {ratio:7.2f}" if ratio else f" {'-':>7}")
        )
    for name, probe in run.get("probe_ms", {}).items():
        lines.append(
            f"{INDENT} probe {name}: p50 {probe.get('p50_ms', 0):.2f} "
            f"p99 {probe.get('p99_ms', 0):.2f} ms (n={probe['count']})"
        )
    if run.get("probe_counters"):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(run["probe_counters"].items()))
        lines.append(f"{INDENT} probe counters: {shown}")
    for name, lag in run.get("visibility_lag_ms", {}).items():
        if name in ("visibility_lag_us", "comment_status_lag_us"):
            lines.append(
                f"{INDENT} lag {name}: p50 {lag.get('p50_ms', 0):.2f} "
                f"p99 {lag.get('p99_ms', 0):.2f} ms (n={lag['count']})"
            )
    return lines


def capacity_lines(impl: str, r: ImplResult) -> list[str]:
    return [capacity_line(impl, scenario, cap) for scenario, cap in r["capacity"].items()]


def capacity_line(impl: str, scenario: str, cap: ScenarioCapacity) -> str:
    share = cap["share_of_bare_chain"]
    return (
        f"{impl:6} capacity at SLO (p99<={SLO_P99_MS:g} ms, errors<=0.1%) {scenario}: "
        f"{cap['capacity_rate']}/s"
        + (f" ({cap['note']})" if cap["note"] else "")
        + f"; bare chain of the same shape: {cap['bare_chain']['capacity_rate']}/s"
        + (f" (share {'<=' if cap['share_is_upper_bound'] else ''}{share:.0%})" if share else "")
    )
