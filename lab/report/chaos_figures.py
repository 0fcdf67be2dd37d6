"""The chaos runs' figures: each experiment's timeline (sync above async, the fault shaded) and
the blast-radius heatmap (the look: lab/plotting.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.plotting import (
    OP_COLOURS,
    OP_MARKERS,
    Drawn,
    log_y,
    new_figure,
    safe,
    save,
    with_style,
)
from lab.report import fmt
from lab.report.chaos_findings import during
from lab.report.model import IMPLS
from lab.report.sources import Run, read_timeline


def timeline(chaos: Sequence[Run], fault: str, out_dir: Path) -> Drawn:
    """Per second, per operation: availability and p99, sync above async; the fault shaded.
    Each side's experiment from the newest run that has it (runs oldest first)."""
    alt = f"Timeline of {fault}: availability and p99 per operation per second, sync and async"
    picked: dict[str, tuple[Run, dict[str, Any]]] = {}
    for run in chaos:
        for e in run.summary.get("experiments", []):
            if e["fault"] == fault:
                picked[e["impl"]] = (run, e)
    impls = [i for i in IMPLS if i in picked]
    tls = {impl: read_timeline(picked[impl][0], impl, fault) for impl in impls}
    missing = [impl for impl, tl in tls.items() if tl is None]
    shown = [impl for impl in impls if tls[impl]]
    if not shown:
        return Drawn(None, alt, f"no timeline file for {fault}")
    es = {impl: picked[impl][1] for impl in impls}
    ids = fmt.join(list(dict.fromkeys(picked[impl][0].run_id for impl in shown)))
    with with_style():
        fig, _ = new_figure(2.1 * 2 * len(shown) + 0.4)
        axes = fig.subplots(2 * len(shown), 1, sharex=True, squeeze=False)
        for k, impl in enumerate(shown):
            rows = tls[impl] or []
            ops = list(dict.fromkeys(r["op"] for r in rows))
            avail_ax, p99_ax = axes[2 * k][0], axes[2 * k + 1][0]
            times = es[impl].get("times") or {}
            if times.get("injected_at") is not None and times.get("restored_at") is not None:
                held = times["restored_at"] - times["injected_at"]
                for ax in (avail_ax, p99_ax):
                    ax.axvspan(0, held, color="#999999", alpha=0.25, lw=0)
            for j, op in enumerate(ops):
                mine = [r for r in rows if r["op"] == op]
                style = dict(
                    color=OP_COLOURS[j % len(OP_COLOURS)],
                    marker=OP_MARKERS[j % len(OP_MARKERS)],
                    ms=2.5,
                    lw=1,
                )
                avail_ax.plot(
                    [r["second"] for r in mine],
                    [
                        r["availability"] if r["availability"] is not None else math.nan
                        for r in mine
                    ],
                    label=op,
                    **style,
                )
                p99_ax.plot(
                    [r["second"] for r in mine],
                    [r["p99_ms"] if r["p99_ms"] is not None else math.nan for r in mine],
                    **style,
                )
            avail_ax.set_ylim(-0.03, 1.05)
            avail_ax.set_ylabel(f"{impl}\navailability")
            log_y(p99_ax)
            p99_ax.set_ylabel(f"{impl}\np99, ms")
            if k == 0:
                avail_ax.legend(loc="lower left", fontsize=7, ncols=3)
        axes[-1][0].set_xlabel("seconds from the fault (shaded: the fault held)")
        fig.suptitle(f"{fault}, run {ids}")
        name = save(fig, out_dir, f"chaos-{safe(fault)}.png")
    return Drawn(name, alt, f"no timeline file for {fmt.join(missing)}" if missing else "")


def heatmap(chaos: Sequence[Run], out_dir: Path) -> Drawn:
    """The blast-radius matrix: availability during each fault, sync and async side by side,
    values in the cells (the lowest over the runs)."""
    alt = "Blast-radius matrix: availability of each operation while each component was down"
    matrix = during(chaos)
    if not matrix:
        return Drawn(None, alt, "no blast-radius matrix in the chaos runs")
    faults = list(matrix)
    ops = list(
        dict.fromkeys(op for impls in matrix.values() for by_op in impls.values() for op in by_op)
    )
    with with_style():
        fig, _ = new_figure(0.45 * len(faults) + 1.8)
        axes = fig.subplots(1, 2, sharey=True)
        image = None
        for ax, impl in zip(axes, IMPLS, strict=True):
            grid = [
                [min(matrix[f].get(impl, {}).get(op, [math.nan])) for op in ops] for f in faults
            ]
            image = ax.imshow(grid, cmap="cividis", vmin=0, vmax=1, aspect="auto")
            for i, row in enumerate(grid):
                for j, v in enumerate(row):
                    text = "n/a" if math.isnan(v) else fmt.share(v).replace(" ", "")
                    colour = "#000000" if math.isnan(v) or v > 0.6 else "#FFFFFF"
                    ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
            ax.set_xticks(range(len(ops)), ops, rotation=30, ha="right")
            ax.set_yticks(range(len(faults)), faults)
            ax.set_title(impl)
            ax.grid(False)
        if image is not None:
            fig.colorbar(image, ax=list(axes), shrink=0.8, label="availability during the fault")
        name = save(fig, out_dir, "blast-radius.png")
    return Drawn(name, alt)
