"""The benchmark run's tables, as Markdown lines, each computed from the run: latency per
operation (every variant side by side, the lowest named only beyond the spread), the load each
figure came with, the visibility lag, the cost. Capacity: lab/report/capacity_section.py."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.suite.stats import spread
from lab.report import fmt
from lab.report.evidence import main_label
from lab.report.rule import NO_DIFFERENCE, NOT_ENOUGH, Range, judge
from lab.report.sources import Run, label_dirs

PERCENTILES = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("p99.9_ms", "p99.9"))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows), ""]


def impls_of(doc: dict[str, Any]) -> list[str]:
    return list(doc.get("aggregate", {}))


def labels_of(doc: dict[str, Any]) -> list[str]:
    agg = doc.get("aggregate", {})
    return list(dict.fromkeys(lbl for a in agg.values() for lbl in a.get("runs", {})))


def lowest_cell(ranges: dict[str, Range | None]) -> str:
    """The table's verdict cell: the variant lower beyond the spread, or ~, or n/a."""
    verdict = judge(ranges)
    return {NO_DIFFERENCE: "~", NOT_ENOUGH: "n/a"}.get(verdict, f"{verdict} ✓")


def latency(bench: Run) -> list[str]:
    """Per measured run (scenario at a rate): per operation and variant the percentiles with
    their spread, the ratios to the floors, the error rate; then which variant is lowest."""
    doc = bench.summary
    agg = doc.get("aggregate", {})
    impls = impls_of(doc)
    out = [
        "Latency from the scheduled start (open loop), ms, median [min–max] over repetitions; "
        "÷ floor: p50 over the calibrated floor; ÷ bare chain: p50 over the bare chain of the "
        "same shape at the same rate. The row *lowest* names the variant whose range is below "
        "every other's (✓), ~ when ranges overlap (no significant difference), n/a with one "
        "repetition.",
        "",
    ]
    for label in labels_of(doc):
        out += [f"**{fmt.label_rate(label)}** (`{label}`)", ""]
        ops = list(
            dict.fromkeys(
                op
                for impl in impls
                for op in agg.get(impl, {}).get("runs", {}).get(label, {}).get("operations", {})
            )
        )
        rows = []
        for op in ops:
            per_impl = {
                impl: agg.get(impl, {}).get("runs", {}).get(label, {}).get("operations", {}).get(op)
                for impl in impls
            }
            for impl, o in per_impl.items():
                if o is None:
                    continue
                rows.append(
                    [op, impl]
                    + [fmt.spread(o["latency_ms"].get(p)) for p, _ in PERCENTILES]
                    + [
                        fmt.spread(o.get("vs_floor")),
                        fmt.spread(o.get("vs_bare_chain")),
                        fmt.spread(_pct(o.get("error_rate")), "%"),
                    ]
                )
            present = {k: o for k, o in per_impl.items() if o is not None}
            if len(present) > 1:
                rows.append(
                    [op, "*lowest*"]
                    + [
                        lowest_cell(
                            {k: Range.of_spread(o["latency_ms"].get(p)) for k, o in present.items()}
                        )
                        for p, _ in PERCENTILES
                    ]
                    + ["", "", ""]
                )
        out += table(
            [
                "operation",
                "variant",
                *(n for _, n in PERCENTILES),
                "÷ floor",
                "÷ bare chain",
                "errors",
            ],
            rows,
        )
        out += load_line(doc, label)
        for impl in impls:
            for why in agg.get(impl, {}).get("runs", {}).get(label, {}).get("invalid", []):
                out.append(f"- **invalid** ({impl} {label}, kept in the figures): {why}")
        if out[-1].startswith("- "):
            out.append("")
    return out


def load_line(doc: dict[str, Any], label: str) -> list[str]:
    """What every published latency comes with: offered and achieved rate, errors, the
    measured window, the generator's own CPU and send lag (docs/METHOD.md, Load)."""
    parts = []
    for impl in impls_of(doc):
        runs = [
            r
            for rep in doc.get("reps", [])
            if (r := rep["impls"].get(impl, {}).get("runs", {}).get(label)) is not None
        ]
        if not runs:
            continue
        behind = [
            str(rep["rep"])
            for rep in doc.get("reps", [])
            if (rep["impls"].get(impl, {}).get("runs", {}).get(label) or {}).get("generator_behind")
        ]
        lag = spread((r.get("generator_lag_ms") or {}).get("p99_ms") for r in runs)
        generator_cpu = spread((r.get("generator_cpu_percent") or {}).get("mean") for r in runs)
        parts.append(
            f"{impl}: achieved {fmt.spread(spread(r.get('achieved_rate') for r in runs), 'req/s')}"
            f", {fmt.spread(spread(r.get('errors') for r in runs), counts=True)} errors, "
            f"{fmt.spread(spread(r.get('duration_s') for r in runs), 's')} measured, generator "
            f"CPU {fmt.spread(generator_cpu, '%')}"
            f", its send lag p99 {fmt.spread(lag, 'ms')}"
            + (f" (BEHIND its schedule in repetition {fmt.join(behind)})" if behind else "")
        )
    if not parts:
        return []
    rate = next(
        (
            r["offered_rate"]
            for impl in impls_of(doc)
            if (r := doc.get("aggregate", {}).get(impl, {}).get("runs", {}).get(label))
        ),
        None,
    )
    return [f"Load: offered {fmt.rate(rate)} (open loop); " + "; ".join(parts) + ".", ""]


def _pct(s: Any) -> Any:
    if not s:
        return None
    return {**s, "median": s["median"] * 100, "min": s["min"] * 100, "max": s["max"] * 100}


def lag(bench: Run) -> list[str]:
    agg = bench.summary.get("aggregate", {})
    rows = []
    for impl in impls_of(bench.summary):
        for label, run in agg.get(impl, {}).get("runs", {}).items():
            for source, named in (
                ("server", run.get("lag_ms", {})),
                ("probe", run.get("probe_ms", {})),
            ):
                for name, pcts in named.items():
                    rows.append(
                        [impl, label, f"{source}: {name}"]
                        + [fmt.spread(pcts.get(p)) for p, _ in PERCENTILES]
                    )
    if not rows:
        return ["The benchmark run holds no visibility lag.", ""]
    return [
        "ms, median [min–max] over repetitions. server: the query service's own histograms "
        "(event occurred-at to applied), over the measured window only (reset when the "
        "generator's warm-up ends); probe: the read-your-writes client (acknowledgement to the "
        "first read that shows the write). A p99.9 of few events is their slowest one or two.",
        "",
        *table(["variant", "run", "histogram", *(n for _, n in PERCENTILES)], rows),
    ]


def cost(bench: Run) -> list[str]:
    doc = bench.summary
    label = main_label(doc)
    agg = doc.get("aggregate", {})
    if label is None:
        return ["The benchmark run measured no cost.", ""]
    impls = [i for i in impls_of(doc) if label in agg.get(i, {}).get("runs", {})]
    runs = {impl: agg[impl]["runs"][label] for impl in impls}
    components = list(
        dict.fromkeys(c for r in runs.values() for c in r.get("cpu_s_per_1000_ok", {}))
    )
    rows = [
        [c]
        + [fmt.spread(runs[i].get("cpu_s_per_1000_ok", {}).get(c)) for i in impls]
        + [fmt.spread(runs[i].get("peak_mb", {}).get(c)) for i in impls]
        for c in components
    ]
    out = [
        f"At {fmt.label_rate(label)} (`{label}`), median [min–max] over repetitions; warm-up "
        "included (docs/METHOD.md, Cost).",
        "",
        *table(
            ["component"]
            + [f"{i} CPU s / 1,000 ok" for i in impls]
            + [f"{i} peak MB" for i in impls],
            rows,
        ),
    ]
    counters: list[list[str]] = []
    for key, what in (("db_transactions_per_op", "database transactions"), ("bus_per_op", "bus")):
        names = list(
            dict.fromkeys(
                n
                for rep in doc.get("reps", [])
                for r in rep["impls"].values()
                for n in r.get("runs", {}).get(label, {}).get("cost", {}).get(key, {})
            )
        )
        for name in names:
            cells = [
                fmt.spread(
                    spread(
                        rep["impls"]
                        .get(impl, {})
                        .get("runs", {})
                        .get(label, {})
                        .get("cost", {})
                        .get(key, {})
                        .get(name)
                        for rep in doc.get("reps", [])
                    )
                )
                for impl in impls
            ]
            counters.append([f"{what}: {name}", *cells])
    if counters:
        out += ["Per successful operation:", "", *table(["counter", *impls], counters)]
    return out


def flame_graphs(bench: Run, report_dir: Path) -> list[str]:
    """Links to the py-spy flame graphs beside the run (the profiled runs), per variant."""
    out: list[str] = []
    for rep in bench.summary.get("reps", []):
        for impl, result in rep["impls"].items():
            for label, run in result.get("runs", {}).items():
                prof = run.get("profile")
                if not prof:
                    continue
                dirs = [d for d in label_dirs(bench, impl, label) if f"rep-{rep['rep']}" in d.parts]
                graphs = []
                for service, name in prof.get("files", {}).items():
                    found = [d / "profile" / name for d in dirs if (d / "profile" / name).is_file()]
                    where = Path(os.path.relpath(found[0], report_dir)).as_posix() if found else ""
                    graphs.append(f"[{service}]({where})" if where else f"{service} (not kept)")
                if graphs:
                    out.append(f"- {impl}, {label}, repetition {rep['rep']}: " + ", ".join(graphs))
    return [*out, ""] if out else []
