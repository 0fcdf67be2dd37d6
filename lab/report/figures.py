"""The benchmark run's figures: the latency percentile spectrum (every variant, one y scale for
all of them, sample counts in the legends), the load curves with their fitted curve and the
capacity's confidence band, the visibility-lag CDF and the cost by component (the look:
lab/plotting.py)."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from benchmarks.load.hdr import merge
from benchmarks.suite.aggregate import point
from benchmarks.suite.capacity_fit import fit
from benchmarks.suite.profiles import SLO_ERROR_RATE, SLO_P99_MS
from lab.plotting import (
    BARE,
    OKABE_ITO,
    Drawn,
    colour,
    line,
    log_y,
    new_figure,
    safe,
    save,
    with_style,
)
from lab.report import fmt
from lab.report.sources import Run, hdr_texts, label_dirs
from lab.report.tables import impls_of

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


def spectrum_limits(bench: Run, labels: Sequence[str]) -> tuple[float, float]:
    """One y range for every spectrum of the report, so that panels compare by eye."""
    lows, highs = [], []
    for label in labels:
        for impl in impls_of(bench.summary):
            for d in label_dirs(bench, impl, label):
                for path in d.glob("hdr-*-corrected.txt"):
                    hist = merge([path.read_text().strip()])
                    if hist.get_total_count():
                        lows.append(hist.get_min_value() / 1000)
                        highs.append(hist.get_value_at_percentile(99.9) / 1000)
    if not lows:
        return 0.1, 1000.0
    return max(0.05, min(lows) * 0.8), max(highs) * 1.25


def spectrum(
    bench: Run, label: str, ops: Sequence[str], out_dir: Path, ylim: tuple[float, float]
) -> Drawn:
    """Per operation, every variant at the same offered load: latency at each percentile, the
    repetitions pooled (thick; the legend says how many requests hold its tail) and each
    repetition (thin); each variant's bare chain at the same rate (dotted) where it ran."""
    alt = f"Latency percentile spectrum per operation, every variant, {label}"
    missing: list[str] = []
    cols = 2
    rows = max(1, math.ceil(len(ops) / cols))
    with with_style():
        fig, _ = new_figure(2.6 * rows + 0.4)
        axes = fig.subplots(rows, cols, squeeze=False)
        drew = False
        for i, op in enumerate(ops):
            ax = axes[i // cols][i % cols]
            for impl in impls_of(bench.summary):
                texts = hdr_texts(label_dirs(bench, impl, label), f"{op}-corrected")
                if not texts:
                    missing.append(f"{impl} {op}")
                    continue
                for text in texts:
                    xs, ys = spectrum_points(merge([text]))
                    ax.plot(xs, ys, line(impl), color=colour(impl), lw=0.7, alpha=0.5)
                pooled = merge(texts)
                xs, ys = spectrum_points(pooled)
                n = pooled.get_total_count()
                ax.plot(
                    xs,
                    ys,
                    line(impl),
                    color=colour(impl),
                    lw=2,
                    label=f"{impl}: {n:,} requests, {len(texts)} reps "
                    f"({max(1, n // 1000)} above p99.9)",
                )
                drew = True
                bare = hdr_texts(
                    [d / "bare-chain" for d in label_dirs(bench, impl, label)], f"{op}-corrected"
                )
                if bare:
                    xs, ys = spectrum_points(merge(bare))
                    ax.plot(
                        xs,
                        ys,
                        ":",
                        color=BARE.get(impl, OKABE_ITO[7]),
                        lw=1.5,
                        label=f"{impl} bare chain",
                    )
            nines_axis(ax)
            log_y(ax)
            ax.set_ylim(*ylim)
            ax.set_title(op)
            ax.set_ylabel("latency, ms")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", fontsize=7)
        for j in range(len(ops), rows * cols):
            axes[j // cols][j % cols].set_visible(False)
        fig.suptitle(f"Latency by percentile, {label} (from the scheduled start; one y scale)")
        if not drew:
            return Drawn(None, alt, "no HDR histogram (hdr-<operation>-corrected.txt) found")
        name = save(fig, out_dir, f"latency-spectrum-{safe(label)}.png")
    note = f"no histogram for {fmt.join(missing)}" if missing else ""
    return Drawn(name, alt, note)


# --- latency against offered load ------------------------------------------------------------
def load_curve(bench: Run, out_dir: Path) -> Drawn:
    """Per swept scenario and variant: every grid step's p99 against its offered rate (each
    repetition; an invalid step hollow), the fitted monotone curve, the SLO, and the capacity
    with its 95 % confidence band; the bare chain's fitted curve dotted."""
    doc = bench.summary
    alt = "p99 against offered load per variant: steps, fitted curve, SLO and capacity with its CI"
    agg = doc.get("aggregate", {})
    scenarios = list(dict.fromkeys(s for a in agg.values() for s in a.get("capacity", {})))
    if not scenarios:
        return Drawn(None, alt, "the benchmark run has no capacity steps")
    with with_style():
        fig, _ = new_figure(3.6 * len(scenarios) + 0.3)
        axes = fig.subplots(len(scenarios), 1, squeeze=False)
        for ax, scenario in zip((a[0] for a in axes), scenarios, strict=True):
            for impl, a in agg.items():
                cap = a.get("capacity", {}).get(scenario)
                if cap is None:
                    continue
                sweeps = [
                    rep["impls"][impl]["capacity"][scenario]
                    for rep in doc.get("reps", [])
                    if scenario in rep["impls"].get(impl, {}).get("capacity", {})
                ]
                for bare in (False, True):
                    if bare and "bare_chain" not in cap:
                        continue  # swept alone (--no-bare-sweep)
                    steps = [
                        s for sw in sweeps for s in (sw["bare_chain"] if bare else sw)["steps"]
                    ]
                    valid = [s for s in steps if s["valid"] and s["p99_ms"] is not None]
                    if not bare:
                        ax.scatter(
                            [s["offered_rate"] for s in valid],
                            [s["p99_ms"] for s in valid],
                            s=12,
                            color=colour(impl),
                        )
                        hollow = [s for s in steps if not s["valid"] and s["p99_ms"] is not None]
                        ax.scatter(
                            [s["offered_rate"] for s in hollow],
                            [s["p99_ms"] for s in hollow],
                            s=14,
                            facecolors="none",
                            edgecolors=colour(impl),
                        )
                    rates, levels = fit(
                        [point(s) for s in steps if s["valid"]], SLO_P99_MS, SLO_ERROR_RATE
                    )
                    if rates:
                        curve = cap["bare_chain" if bare else "implementation"]["capacity"]
                        ax.plot(
                            rates,
                            [10**y for y in levels],
                            ":" if bare else line(impl),
                            color=BARE.get(impl, OKABE_ITO[7]) if bare else colour(impl),
                            lw=1.2 if bare else 2,
                            label=f"{impl}{' bare chain' if bare else ''}: capacity "
                            f"{_interval_text(curve)}/s",
                        )
                        if (
                            not bare
                            and curve.get("low") is not None
                            and curve.get("high") is not None
                        ):
                            ax.axvspan(curve["low"], curve["high"], color=colour(impl), alpha=0.15)
            ax.axhline(
                SLO_P99_MS, color="#000000", ls="-.", lw=1, label=f"SLO p99 {SLO_P99_MS:g} ms"
            )
            log_y(ax)
            ax.set_xlabel("offered rate, requests/s")
            ax.set_ylabel("p99, ms")
            ax.set_title(
                f"{scenario}: every step (hollow: invalid), fitted curve, capacity 95 % CI band"
            )
            ax.legend(loc="upper left", fontsize=7)
        name = save(fig, out_dir, "latency-vs-load.png")
    return Drawn(name, alt)


def _interval_text(i: dict[str, Any]) -> str:
    if i.get("value") is None:
        return "-"
    if i.get("kind") == "lower_bound":
        return f">={i['value']:.0f}"
    if i.get("kind") == "upper_bound":
        return f"<={i['value']:.0f}"
    if i.get("low") is None:
        return f"{i['value']:.0f}"
    return f"{i['value']:.0f} [{i['low']:.0f}-{i['high']:.0f}]"


# --- visibility lag --------------------------------------------------------------------------
def cdf_points(hist: Any) -> tuple[list[float], list[float]]:
    values, counts = cumulative(hist)
    total = counts[-1] if counts else 1
    return values, [c / total for c in counts]


def lag_cdf(bench: Run, out_dir: Path) -> Drawn:
    """The server-side lag histograms of async (every repetition pooled, per run) and the
    read-your-writes probe's percentiles of both sides as markers."""
    doc = bench.summary
    alt = "Cumulative distribution of the visibility lag: async server side, and the probe"
    agg = doc.get("aggregate", {})
    drew = False
    with with_style():
        fig, _ = new_figure(4.2)
        ax = fig.subplots()
        colours = iter(OKABE_ITO[1:] * 4)
        for impl in impls_of(doc):
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
                            line(impl),
                            marker="o" if "post" in name else "s",
                            color=colour(impl),
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
def cost(bench: Run, label: str, out_dir: Path) -> Drawn:
    doc = bench.summary
    alt = f"CPU seconds per 1,000 successful operations and peak memory by component, {label}"
    runs = {
        impl: doc["aggregate"][impl]["runs"][label]
        for impl in impls_of(doc)
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
                    color=colour(impl),
                    hatch=("", "//", "..", "xx")[k % 4],
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
