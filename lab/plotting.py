"""How every figure the lab draws looks and is written (the report's, and the overload
experiment's timelines in its results): matplotlib's Agg canvas, fixed size and dpi, the
Okabe-Ito palette (colour-blind safe) with a line style per side as well, latency on log axes,
and PNGs with no varying metadata, so the same runs give the same bytes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes

# Agg by its own canvas: no pyplot, no display, no global figure state, the same pixels anywhere.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

DPI = 100
WIDTH = 9.0  # inches
# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
SIDE = {"sync": "#0072B2", "async": "#E69F00"}
BARE = {"sync": "#56B4E9", "async": "#D55E00"}
STYLE = {"sync": "-", "async": "--"}
OP_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
OP_MARKERS = ("o", "s", "^", "D", "v", "x", "+")
RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "lab-report",
}


@dataclass(frozen=True)
class Drawn:
    """A figure the report links: its file name in the figures folder (None when it could not
    be drawn), its alt text, and what is missing from it, if anything."""

    file: str | None
    alt: str
    note: str = ""


def new_figure(height: float) -> tuple[Figure, FigureCanvasAgg]:
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    return fig, FigureCanvasAgg(fig)


def save(fig: Figure, out_dir: Path, name: str) -> str:
    # No "Software" (matplotlib's version) and no creation time: the bytes depend on the data.
    fig.savefig(out_dir / name, format="png", dpi=DPI, metadata={"Software": None})
    return name


def with_style() -> Any:
    return matplotlib.rc_context(RC)  # type: ignore[arg-type]


def log_y(ax: Axes) -> None:
    """A log latency axis labelled with plain numbers (3, 10, 30), not powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda y, _: f"{y:g}" if f"{y:g}"[0] in "25" else "")
    )


def safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
