"""The benchmark run's figures: the latency percentile spectrum, latency against offered load,
the visibility-lag CDF and the cost by component (the look: lab/plotting.py)."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from benchmarks.load.hdr import merge
from lab.plotting import (
    BARE,
    OKABE_ITO,
    SIDE,
    STYLE,
    Drawn,
    log_y,
    new_figure,
    safe,
    save,
    with_style,
)
from lab.report import fmt
from lab.report.model import IMPLS
from lab.report.sources import BenchRun, hdr_texts, label_dirs

SPECTRUM_MAX_NINES = 3  # to 99.9 %


# --- latency percentile spectrum -------------------------------------------------------------
def nines_axis(ax: Axes) -> None:
    """HdrHistogram's percentile axis: x = 1 / (1 - p) on a log scale."""
    ax.set_xscale("log")
    ticks = [10**k for k in range(SPECTRUM_MAX_NINES + 1)] + [2]
    names = {1: "0 %", 2: "50 %", 10: "90 %", 100: "99 %", 1000: "99.9 %"}
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: names.get(round(x), "")))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(1, 10**SPECTRUM_MAX_NINES)


def cumulative(hist: Any) -> tuple[list[float], list[int]]:
    """Each recorded value (ms, the top of its bucket) with the count up to it: one pass, where
    a get_value_at_percentile per point would walk the whole histogram each time."""
    values, counts, seen = [], [], 0
    for item in hist.get_recorded_iterator():
        seen += item.count_added_in_this_iter_step
        values.append(item.value_iterated_to / 1000)
        counts.append(seen)
    return values, counts


def spectrum_points(hist: Any) -> tuple[list[float], list[float]]:
    """Latency at percentiles from 0 to 99.9 %, evenly spaced on the 1 / (1 - p) axis; each as
    HdrHistogram's get_value_at_percentile finds it (the first bucket whose cumulative count
    reaches p of the total, rounded)."""
    values, counts = cumulative(hist)
    total = counts[-1] if counts else 0
    xs: list[float] = []
    ys: list[float] = []
    if not total:
        return xs, ys
    steps = 60 * SPECTRUM_MAX_NINES
    for i in range(steps + 1):
        k = SPECTRUM_MAX_NINES * i / steps
        p = 1 - 10**-k
        wanted = max(int(p * total + 0.5), 1)
        xs.append(10**k)
        ys.append(values[min(bisect_left(counts, wanted), len(values) - 1)])
    return xs, ys


def spectrum(bench: BenchRun, label: str, ops: Sequence[str], out_dir: Path) -> Drawn:
    """Per operation, sync and async at the same offered load: latency at each percentile, the
    repetitions pooled (thick) and each repetition (thin); each side's bare chain at the same
    rate (dotted) where its histograms are there."""
    alt = f"Latency percentile spectrum per operation, sync vs async, {label}"
    missing: list[str] = []
    cols = 2
    rows = max(1, math.ceil(len(ops) / cols))
    with with_style():
        fig, _ = new_figure(2.6 * rows + 0.4)
        axes = fig.subplots(rows, cols, squeeze=False)
        drew = False
        for i, op in enumerate(ops):
            ax = axes[i // cols][i % cols]
            for impl in IMPLS:
                texts = hdr_texts(label_dirs(bench, impl, label), f"{op}-corrected")
                if not texts:
                    missing.append(f"{impl} {op}")
                    continue
                for text in texts:
                    xs, ys = spectrum_points(merge([text]))
                    ax.plot(xs, ys, STYLE[impl], color=SIDE[impl], lw=0.7, alpha=0.5)
                xs, ys = spectrum_points(merge(texts))
                ax.plot(
                    xs, ys, STYLE[impl], color=SIDE[impl], lw=2, label=f"{impl} ({len(texts)} reps)"
                )
                drew = True
                # The bare chain of the same shape at the same rate, where it was run.
                bare = hdr_texts(
                    [d / "bare-chain" for d in label_dirs(bench, impl, label)], f"{op}-corrected"
                )
                if bare:
                    xs, ys = spectrum_points(merge(bare))
                    ax.plot(xs, ys, ":", color=BARE[impl], lw=1.5, label=f"{impl} bare chain")
            nines_axis(ax)
            log_y(ax)
            ax.set_title(op)
            ax.set_ylabel("latency, ms")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", fontsize=8)
        for j in range(len(ops), rows * cols):
            axes[j // cols][j % cols].set_visible(False)
        fig.suptitle(f"Latency by percentile, {label} (from the scheduled start)")
        if not drew:
            return Drawn(None, alt, "no HDR histogram (hdr-<operation>-corrected.txt) found")
        name = save(fig, out_dir, f"latency-spectrum-{safe(label)}.png")
    note = f"no histogram for {fmt.join(missing)}" if missing else ""
    return Drawn(name, alt, note)


# --- latency against offered load ------------------------------------------------------------
def load_curve(bench: BenchRun, out_dir: Path) -> Drawn:
    """Per swept scenario: each step's p99 against its offered rate, for each side and its bare
    chain, every repetition; the SLO line and each sweep's capacity (median)."""
    doc = bench.doc
    alt = "p99 latency against offered load, sync and async and their bare chains, with the SLO"
    scenarios = list(
        dict.fromkeys(
            s
            for rep in doc.get("reps", [])
            for r in rep["impls"].values()
            for s in r.get("capacity", {})
        )
    )
    if not scenarios:
        return Drawn(None, alt, "the benchmark run has no capacity sweep")
    agg = doc.get("aggregate", {})
    with with_style():
        fig, _ = new_figure(3.4 * len(scenarios) + 0.3)
        axes = fig.subplots(len(scenarios), 1, squeeze=False)
        for ax, scenario in zip((a[0] for a in axes), scenarios, strict=True):
            slo = None
            for impl in IMPLS:
                for bare in (False, True):
                    colour = BARE[impl] if bare else SIDE[impl]
                    name = f"{impl} bare chain" if bare else impl
                    c = agg.get(impl, {}).get("capacity", {}).get(scenario, {})
                    rate = (c.get("bare_chain_rate") if bare else c.get("capacity_rate")) or {}
                    if rate:
                        ax.axvline(
                            rate["median"],
                            color=colour,
                            ls=":" if bare else STYLE[impl],
                            lw=1.2,
                            alpha=0.8,
                        )
                        name += f" (capacity {fmt.num(rate['median'])}/s)"
                    first = True
                    for rep in doc.get("reps", []):
                        cap = rep["impls"].get(impl, {}).get("capacity", {}).get(scenario)
                        if cap is None:
                            continue
                        sweep = cap["bare_chain"] if bare else cap
                        slo = sweep.get("slo", slo)
                        steps = sorted(
                            (s for s in sweep["steps"] if s.get("p99_ms") is not None),
                            key=lambda s: s["offered_rate"],
                        )
                        ax.plot(
                            [s["offered_rate"] for s in steps],
                            [s["p99_ms"] for s in steps],
                            ":" if bare else STYLE[impl],
                            color=colour,
                            marker="s" if bare else "o",
                            ms=3,
                            lw=1,
                            label=name if first else None,
                        )
                        first = False
            if slo:
                ax.axhline(
                    slo["p99_ms"],
                    color="#000000",
                    ls="-.",
                    lw=1,
                    label=f"SLO p99 {slo['p99_ms']:g} ms",
                )
            log_y(ax)
            ax.set_xlabel("offered rate, requests/s")
            ax.set_ylabel("p99, ms")
            ax.set_title(
                f"{scenario}: p99 per sweep step (every repetition); vertical lines: capacities"
            )
            ax.legend(loc="upper left", fontsize=7)
        name = save(fig, out_dir, "latency-vs-load.png")
    return Drawn(name, alt)


# --- visibility lag --------------------------------------------------------------------------
def cdf_points(hist: Any) -> tuple[list[float], list[float]]:
    values, counts = cumulative(hist)
    total = counts[-1] if counts else 1
    return values, [c / total for c in counts]


def lag_cdf(bench: BenchRun, out_dir: Path) -> Drawn:
    """The server-side lag histograms of async (every repetition pooled, per run) and the
    read-your-writes probe's percentiles of both sides as markers."""
    doc = bench.doc
    alt = "Cumulative distribution of the visibility lag: async server side, and the probe"
    agg = doc.get("aggregate", {})
    drew = False
    with with_style():
        fig, _ = new_figure(4.2)
        ax = fig.subplots()
        colours = iter(OKABE_ITO[1:] * 4)
        for impl in IMPLS:
            for label, run in agg.get(impl, {}).get("runs", {}).items():
                for name in run.get("lag_ms", {}):
                    texts = hdr_texts(label_dirs(bench, impl, label), f"server-{name}")
                    if not texts:
                        continue
                    hist = merge(texts)
                    if hist.get_total_count() == 0:
                        continue
                    xs, ys = cdf_points(hist)
                    ax.step(
                        xs,
                        ys,
                        where="post",
                        color=next(colours),
                        lw=1.5,
                        label=f"{impl} {label}: {name} (server)",
                    )
                    drew = True
                for name, pcts in run.get("probe_ms", {}).items():
                    points = [
                        (pcts[p]["median"], q)
                        for p, q in (
                            ("p50_ms", 0.5),
                            ("p90_ms", 0.9),
                            ("p99_ms", 0.99),
                            ("p99.9_ms", 0.999),
                        )
                        if p in pcts
                    ]
                    if points:
                        ax.plot(
                            [x for x, _ in points],
                            [y for _, y in points],
                            STYLE[impl],
                            marker="o" if impl == "sync" else "s",
                            color=SIDE[impl] if "post" in name else BARE[impl],
                            lw=0.8,
                            label=f"{impl} {label}: {name} (probe, medians)",
                        )
                        drew = True
        if not drew:
            return Drawn(None, alt, "no lag histogram or probe in the benchmark run")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set_xlabel("lag, ms")
        ax.set_ylabel("share of events or writes")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right", fontsize=7)
        ax.set_title("Visibility lag: write to visible in the read model")
        name = save(fig, out_dir, "visibility-lag-cdf.png")
    return Drawn(name, alt)


# --- cost ------------------------------------------------------------------------------------
def cost(bench: BenchRun, label: str, out_dir: Path) -> Drawn:
    doc = bench.doc
    alt = f"CPU seconds per 1,000 successful operations and peak memory by component, {label}"
    runs = {
        impl: doc["aggregate"][impl]["runs"][label]
        for impl in IMPLS
        if label in doc.get("aggregate", {}).get(impl, {}).get("runs", {})
    }
    components = list(
        dict.fromkeys(c for r in runs.values() for c in r.get("cpu_s_per_1000_ok", {}))
    )
    if not components:
        return Drawn(None, alt, "no cost in the benchmark run")
    with with_style():
        fig, _ = new_figure(6.0)
        top, bottom = fig.subplots(2, 1)
        width = 0.8 / max(1, len(runs))
        for k, (impl, run) in enumerate(runs.items()):
            for ax, key, unit in (
                (top, "cpu_s_per_1000_ok", "CPU s per 1,000 ok"),
                (bottom, "peak_mb", "peak MB (PSS)"),
            ):
                xs, meds, lo, hi = [], [], [], []
                for i, c in enumerate(components):
                    s = run.get(key, {}).get(c)
                    if s is None:
                        continue
                    xs.append(i + (k - (len(runs) - 1) / 2) * width)
                    meds.append(s["median"])
                    lo.append(s["median"] - s["min"])
                    hi.append(s["max"] - s["median"])
                ax.bar(
                    xs,
                    meds,
                    width,
                    yerr=[lo, hi],
                    color=SIDE[impl],
                    hatch="" if impl == "sync" else "//",
                    edgecolor="#000000",
                    lw=0.5,
                    capsize=2,
                    label=impl,
                )
                ax.set_ylabel(unit)
        for ax in (top, bottom):
            ax.set_xticks(range(len(components)), components, rotation=30, ha="right")
            ax.legend(fontsize=8)
        top.set_title(f"Cost by component, {label} (median, bars: min–max over repetitions)")
        name = save(fig, out_dir, f"cost-{safe(label)}.png")
    return Drawn(name, alt)
