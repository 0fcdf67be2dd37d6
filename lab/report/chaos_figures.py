"""The chaos runs' figure: the blast-radius heatmap, every variant side by side, availability
and p99 in each cell (the look: lab/plotting.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.plotting import Drawn, new_figure, save, with_style
from lab.report import fmt
from lab.report.chaos_tables import impls_of
from lab.report.sources import Run


def heatmap(chaos: Sequence[Run], out_dir: Path) -> Drawn:
    """The blast-radius matrix, every variant side by side: each cell coloured by availability
    during the fault and labelled with it, its p99 and its marks (! differs from the static
    prediction, * down by latency, ~ a small cell); pooled over repetitions."""
    alt = "Blast-radius matrix: availability and p99 of each operation while each fault held"
    cells: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for run in chaos:
        for fault, by_op in run.summary.get("matrix", {}).get("rows", {}).items():
            for op, by_impl in by_op.items():
                for impl, mc in by_impl.items():
                    cells.setdefault(impl, {}).setdefault(fault, {})[op] = mc
    if not cells:
        return Drawn(None, alt, "no blast-radius matrix in the chaos runs")
    impls = impls_of(chaos)
    faults = list(dict.fromkeys(f for by_fault in cells.values() for f in by_fault))
    ops = list(
        dict.fromkeys(
            op for by_fault in cells.values() for by_op in by_fault.values() for op in by_op
        )
    )
    with with_style():
        fig, _ = new_figure(0.5 * len(faults) + 2.0)
        axes = fig.subplots(1, len(impls), sharey=True, squeeze=False)[0]
        image = None
        for ax, impl in zip(axes, impls, strict=True):
            grid = []
            for f in faults:
                row = []
                for op in ops:
                    mc = cells.get(impl, {}).get(f, {}).get(op)
                    value = mc["cell"]["availability"] if mc else None
                    row.append(math.nan if value is None else value)
                grid.append(row)
            image = ax.imshow(grid, cmap="cividis", vmin=0, vmax=1, aspect="auto")
            for i, f in enumerate(faults):
                for j, op in enumerate(ops):
                    mc = cells.get(impl, {}).get(f, {}).get(op)
                    v = grid[i][j]
                    if mc is None or math.isnan(v):
                        ax.text(j, i, "n/a", ha="center", va="center", fontsize=6)
                        continue
                    c = mc["cell"]
                    marks = (
                        ("!" if mc.get("agrees") is False else "")
                        + ("*" if c.get("up_by_availability") and not c.get("up") else "")
                        + ("~" if c.get("small") else "")
                    )
                    p99 = "" if c.get("p99_ms") is None else f"\n{fmt.num(c['p99_ms'])}ms"
                    text = fmt.share(v).replace(" ", "") + marks + p99
                    colour = "#000000" if v > 0.6 else "#FFFFFF"
                    ax.text(j, i, text, ha="center", va="center", fontsize=5.5, color=colour)
            ax.set_xticks(range(len(ops)), ops, rotation=30, ha="right", fontsize=7)
            ax.set_yticks(range(len(faults)), faults, fontsize=7)
            ax.set_title(impl)
            ax.grid(False)
        if image is not None:
            fig.colorbar(image, ax=list(axes), shrink=0.8, label="availability during the fault")
        name = save(fig, out_dir, "blast-radius.png")
    return Drawn(name, alt)
