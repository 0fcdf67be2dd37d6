"""The report's tables, as Markdown lines, each computed from the runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.suite.results import Comparison
from benchmarks.suite.stats import spread
from lab.report import fmt
from lab.report.findings import label_rate, main_label
from lab.report.model import IMPLS, swept_scenarios
from lab.report.sources import BenchRun, label_dirs

PERCENTILES = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("p99.9_ms", "p99.9"))
MARK = {"sync": "sync ✓", "async": "async ✓", "~": "~", "n/a": "n/a"}
TOP_FRAMES = 5


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows), ""]


# --- benchmark -------------------------------------------------------------------------------
def verdict_cell(cmp: Comparison | None) -> str:
    if cmp is None:
        return "-"
    ratio = f"{fmt.ratio(cmp['ratio'])} " if cmp["ratio"] else ""
    return ratio + MARK[cmp["verdict"]]


def latency(bench: BenchRun) -> list[str]:
    """Per measured run (scenario at a rate): per operation and implementation the percentiles
    with their spread, the ratios to the floors, the error rate; and the comparison row."""
    doc = bench.doc
    agg = doc.get("aggregate", {})
    labels = list(dict.fromkeys(lbl for impl in IMPLS for lbl in agg.get(impl, {}).get("runs", {})))
    out = [
        "Latency from the scheduled start (open loop), ms, median [min–max] over repetitions; "
        "÷ floor: p50 over the calibrated floor; ÷ bare chain: p50 over the bare chain of the "
        "same shape at the same rate. The row async ÷ sync gives the ratio of the medians and "
        "which side is lower when the ranges are disjoint (✓), ~ when they overlap (no "
        "significant difference), n/a with fewer than two repetitions.",
        "",
    ]
    for label in labels:
        out += [f"**{label_rate(doc, label)}** (`{label}`)", ""]
        compared = doc.get("comparisons", {}).get("latency", {}).get(label, {})
        ops = list(
            dict.fromkeys(
                op
                for impl in IMPLS
                for op in agg.get(impl, {}).get("runs", {}).get(label, {}).get("operations", {})
            )
        )
        rows = []
        for op in ops:
            for impl in IMPLS:
                o = agg.get(impl, {}).get("runs", {}).get(label, {}).get("operations", {}).get(op)
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
            if op in compared:
                rows.append(
                    [op, "async ÷ sync"]
                    + [verdict_cell(compared[op].get(p)) for p, _ in PERCENTILES]
                    + ["", "", ""]
                )
        out += table(
            [
                "operation",
                "impl",
                *(n for _, n in PERCENTILES),
                "÷ floor",
                "÷ bare chain",
                "errors",
            ],
            rows,
        )
        out += load_line(doc, label)
        for impl in IMPLS:
            for why in agg.get(impl, {}).get("runs", {}).get(label, {}).get("invalid", []):
                out.append(f"- **invalid** ({impl} {label}, kept in the figures): {why}")
        if out[-1].startswith("- "):
            out.append("")
    return out


def generator_cpu(run: dict[str, Any]) -> float | None:
    """The busiest generator process's mean CPU, percent of one core."""
    cpu: float | None = (run.get("generator_cpu_percent") or {}).get("mean")
    return cpu


def load_line(doc: dict[str, Any], label: str) -> list[str]:
    """What every published latency comes with: offered and achieved rate, errors, the
    measured window, and the generator's own CPU (docs/METHOD.md, Load)."""
    parts = []
    for impl in IMPLS:
        runs = [
            r
            for rep in doc.get("reps", [])
            if (r := rep["impls"].get(impl, {}).get("runs", {}).get(label)) is not None
        ]
        if not runs:
            continue
        saturated = [
            str(rep["rep"])
            for rep in doc.get("reps", [])
            if (rep["impls"].get(impl, {}).get("runs", {}).get(label) or {}).get(
                "generator_saturated"
            )
        ]
        achieved = spread(r.get("achieved_rate") for r in runs)
        parts.append(
            f"{impl}: achieved {fmt.spread(achieved, 'req/s')}, "
            f"{fmt.spread(spread(r.get('errors') for r in runs), counts=True)} errors, "
            f"{fmt.spread(spread(r.get('duration_s') for r in runs), 's')} measured, "
            f"{fmt.spread(spread(r.get('users') for r in runs), counts=True)} users, generator "
            f"CPU {fmt.spread(spread(generator_cpu(r) for r in runs), '%')}"
            + (f" (SATURATED in repetition {fmt.join(saturated)})" if saturated else "")
        )
    if not parts:
        return []
    rate = next(
        (
            r["offered_rate"]
            for impl in IMPLS
            if (r := doc.get("aggregate", {}).get(impl, {}).get("runs", {}).get(label))
        ),
        None,
    )
    return [f"Load: offered {fmt.rate(rate)} (open loop); " + "; ".join(parts) + ".", ""]


def _pct(s: Any) -> Any:
    if not s:
        return None
    return {**s, "median": s["median"] * 100, "min": s["min"] * 100, "max": s["max"] * 100}


def capacity(bench: BenchRun) -> list[str]:
    doc = bench.doc
    agg = doc.get("aggregate", {})
    rows = []
    for scenario in swept_scenarios(doc):
        cmp = doc.get("comparisons", {}).get("capacity", {}).get(scenario)
        for impl in IMPLS:
            cap = agg.get(impl, {}).get("capacity", {}).get(scenario)
            if cap is None:
                continue
            flags = cap["flags"]
            notes = []
            if flags.get("over_bare_chain"):
                reps = fmt.join([str(r) for r in flags["over_bare_chain"]])
                notes.append(f"over its bare chain (measurement problem): rep {reps}")
            if flags.get("lower_bound"):
                notes.append(f"lower bound: rep {fmt.join([str(r) for r in flags['lower_bound']])}")
            rows.append(
                [
                    scenario,
                    impl,
                    fmt.spread(cap.get("capacity_rate")),
                    fmt.spread(cap.get("bare_chain_rate")),
                    fmt.spread(_pct(cap.get("share_of_bare_chain")), "%"),
                    "; ".join(notes) or "-",
                    verdict_cell(cmp) if impl == "async" else "",
                ]
            )
    if not rows:
        return ["The benchmark run has no capacity sweep.", ""]
    return [
        "Capacity at the SLO, requests/s offered, median [min–max] over repetitions; the share "
        "of the bare chain is left out for a repetition whose capacity exceeded its bare "
        "chain's (flagged), never shown over 100 %.",
        "",
        *table(
            [
                "scenario",
                "impl",
                "capacity",
                "bare chain",
                "share of bare chain",
                "flags",
                "async ÷ sync",
            ],
            rows,
        ),
    ]


def lag(bench: BenchRun) -> list[str]:
    agg = bench.doc.get("aggregate", {})
    rows = []
    for impl in IMPLS:
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
        "(event occurred-at to applied); probe: the read-your-writes client (acknowledgement to "
        "the first read that shows the write).",
        "",
        *table(["impl", "run", "histogram", *(n for _, n in PERCENTILES)], rows),
    ]


def cost(bench: BenchRun) -> list[str]:
    doc = bench.doc
    label = main_label(doc)
    agg = doc.get("aggregate", {})
    if label is None:
        return ["The benchmark run measured no cost.", ""]
    runs = {
        impl: agg[impl]["runs"][label]
        for impl in IMPLS
        if label in agg.get(impl, {}).get("runs", {})
    }
    components = list(
        dict.fromkeys(c for r in runs.values() for c in r.get("cpu_s_per_1000_ok", {}))
    )
    rows = [
        [c]
        + [
            fmt.spread(runs[i].get("cpu_s_per_1000_ok", {}).get(c)) if i in runs else "-"
            for i in IMPLS
        ]
        + [fmt.spread(runs[i].get("peak_mb", {}).get(c)) if i in runs else "-" for i in IMPLS]
        for c in components
    ]
    out = [
        f"At {label_rate(doc, label)} (`{label}`), median [min–max] over repetitions; warm-up "
        "included (docs/METHOD.md, Cost).",
        "",
        *table(
            [
                "component",
                "sync CPU s / 1,000 ok",
                "async CPU s / 1,000 ok",
                "sync peak MB",
                "async peak MB",
            ],
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
            cells = []
            for impl in IMPLS:
                s = spread(
                    rep["impls"]
                    .get(impl, {})
                    .get("runs", {})
                    .get(label, {})
                    .get("cost", {})
                    .get(key, {})
                    .get(name)
                    for rep in doc.get("reps", [])
                )
                cells.append(fmt.spread(s))
            counters.append([f"{what}: {name}", *cells])
    if counters:
        out += ["Per successful operation:", "", *table(["counter", "sync", "async"], counters)]
    return out


def profiles(bench: BenchRun, report_dir: Path) -> list[str]:
    """Top frames by own samples per service replica, from each repetition profiled, with
    links to the flame graphs where they are beside the run."""
    out: list[str] = []
    for rep in bench.doc.get("reps", []):
        for impl, result in rep["impls"].items():
            for label, run in result.get("runs", {}).items():
                prof = run.get("profile")
                if not prof:
                    continue
                out += [
                    f"**{impl}, {label}, repetition {rep['rep']}** (py-spy, "
                    f"{prof.get('rate_hz', '-')} Hz, {fmt.seconds(prof.get('duration_s'))}; "
                    "share of the service's samples spent in the frame itself)",
                    "",
                ]
                rows = []
                for service, frames in prof.get("services", {}).items():
                    for frame, share in list(frames)[:TOP_FRAMES]:
                        rows.append([service, f"`{frame}`", fmt.share(share)])
                out += table(["service", "frame", "share of samples"], rows)
                dirs = [d for d in label_dirs(bench, impl, label) if f"rep-{rep['rep']}" in d.parts]
                graphs = []
                for service, name in prof.get("files", {}).items():
                    found = [d / "profile" / name for d in dirs if (d / "profile" / name).is_file()]
                    where = Path(os.path.relpath(found[0], report_dir)).as_posix() if found else ""
                    graphs.append(
                        f"[{service}]({where})" if where else f"{service} (`{name}`, not found)"
                    )
                if graphs:
                    out += ["Flame graphs: " + ", ".join(graphs) + ".", ""]
                for problem in prof.get("problems", []):
                    out.append(f"- not profiled: {problem}")
                if prof.get("problems"):
                    out.append("")
    return out
