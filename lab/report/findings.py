"""The report's findings: each a sentence computed from the runs under the one rule
(lab/report/rule.py), linked to the section whose table or figure holds its numbers; a failed
run (a lost write) first and in bold. tests/unit/test_report_findings.py checks that no finding
contradicts its table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.report import fmt, sections
from lab.report.chaos_tables import experiments
from lab.report.evidence import main_label
from lab.report.rule import NO_DIFFERENCE, NOT_ENOUGH, Range, judge
from lab.report.sources import Run, Runs

PERCENTILES = (("p50_ms", "p50"), ("p99_ms", "p99"))


@dataclass(frozen=True)
class Finding:
    topic: str
    text: str
    ref: str
    details: tuple[str, ...] = ()
    failed: bool = False


def findings(runs: Runs) -> list[Finding]:
    out: list[Finding] = []
    out += lost(runs)
    if runs.bench is not None:
        out += latency(runs.bench)
    for chaos in runs.chaos:
        out += databases_down(chaos)
    return out


def lost(runs: Runs) -> list[Finding]:
    failed = []
    for chaos in runs.chaos:
        for _, e in experiments([chaos]):
            total = e.get("audit", {}).get("total", {})
            if total.get("lost") or total.get("duplicated") or total.get("unexpected"):
                failed.append(f"{e['impl']} {e['fault']}")
    if runs.overload is not None:
        for e in runs.overload.summary.get("experiments", []):
            total = e.get("audit", {}).get("total", {})
            if total.get("lost") or total.get("duplicated") or total.get("unexpected"):
                failed.append(f"{e['impl']} overload@{e['base']:g}")
    if not failed:
        return []
    return [
        Finding(
            "integrity",
            "FAILED RUN: acknowledged writes lost, duplicated or unexpected in "
            f"{fmt.join(failed)}.",
            sections.AUDIT,
            failed=True,
        )
    ]


def per_operation(doc: Mapping[str, Any], label: str, pct: str) -> dict[str, str]:
    """For each operation at `label`, the verdict of `pct` over every variant (the same call
    the latency table's *lowest* row makes)."""
    agg = doc.get("aggregate", {})
    ops = list(
        dict.fromkeys(
            op
            for a in agg.values()
            for op in a.get("runs", {}).get(label, {}).get("operations", {})
        )
    )
    out = {}
    for op in ops:
        ranges = {
            impl: Range.of_spread(o["latency_ms"].get(pct))
            for impl, a in agg.items()
            if (o := a.get("runs", {}).get(label, {}).get("operations", {}).get(op))
        }
        if len(ranges) > 1:
            out[op] = judge(ranges)
    return out


def latency(bench: Run) -> list[Finding]:
    doc = bench.summary
    label = main_label(doc)
    if label is None:
        return []
    out = []
    for pct, name in PERCENTILES:
        verdicts = per_operation(doc, label, pct)
        wins: dict[str, list[str]] = {}
        for op, v in verdicts.items():
            wins.setdefault(v, []).append(op)
        parts = [
            f"{impl} on {fmt.join(ops)}"
            for impl, ops in wins.items()
            if impl not in (NO_DIFFERENCE, NOT_ENOUGH)
        ]
        same = wins.get(NO_DIFFERENCE, [])
        text = f"At {fmt.label_rate(label)}, the lowest {name}: " + (
            "; ".join(parts) if parts else "no variant beyond the spread"
        )
        if same:
            text += f"; no significant difference on {fmt.join(same)}"
        out.append(Finding("latency", text + ".", sections.LATENCY))
    return out


def databases_down(chaos: Run) -> list[Finding]:
    """What stayed up, per variant, while each database was killed."""
    out = []
    for fault, by_op in chaos.summary.get("matrix", {}).get("rows", {}).items():
        if not fault.startswith("kill-db:"):
            continue
        per_impl: dict[str, list[str]] = {}
        for op, by_impl in by_op.items():
            for impl, mc in by_impl.items():
                per_impl.setdefault(impl, [])
                if mc["cell"].get("up"):
                    per_impl[impl].append(op)
        said = "; ".join(
            f"{impl}: {fmt.join(ops) if ops else 'nothing'} up" for impl, ops in per_impl.items()
        )
        out.append(Finding("isolation", f"While {fault} held: {said}.", sections.BLAST))
    return out
