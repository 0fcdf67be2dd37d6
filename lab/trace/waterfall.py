"""Waterfall figures of single traces: one bar per span on a time axis, depth first, coloured
by service (lab/report/style.py: Agg, fixed width and dpi, the same bytes for the same spans)."""

from __future__ import annotations

from pathlib import Path

from lab.plotting import OKABE_ITO, new_figure, safe, save, with_style
from lab.trace.hops import ARRIVED
from lab.trace.join import Trace

SERVICE_COLOURS = {
    "client": OKABE_ITO[7],
    "posts": OKABE_ITO[4],
    "comments": OKABE_ITO[0],
    "moderation": OKABE_ITO[2],
    "query": OKABE_ITO[6],
}
MAX_BARS = 60  # a longer trace is cut (and says so): a figure must stay readable
LABEL_CHARS = 58


def figure_name(impl: str, operation: str, which: str) -> str:
    return safe(f"waterfall-{impl}-{operation}-{which}.png")


def draw(trace: Trace, title: str, out_dir: Path, name: str) -> str:
    """Draw `trace` to out_dir/name (PNG); returns the name."""
    rows = trace.walk()
    cut = len(rows) - MAX_BARS
    rows = rows[:MAX_BARS]
    t0 = trace.start_ns
    with with_style():
        fig, _ = new_figure(1.2 + 0.24 * len(rows))
        ax = fig.add_subplot()
        for y, (_depth, span) in enumerate(rows):
            start = (span.start_ns - t0) / 1e6
            colour = SERVICE_COLOURS.get(span.service, OKABE_ITO[5])
            ax.barh(y, max(span.duration_ms, 0.005), left=start, height=0.7, color=colour)
            arrived = int(span.attributes.get(ARRIVED, 0))
            if arrived and arrived < span.start_ns:  # the wait before the handler, hatched
                waited = (span.start_ns - arrived) / 1e6
                ax.barh(
                    y,
                    waited,
                    left=start - waited,
                    height=0.7,
                    color="none",
                    edgecolor=colour,
                    hatch="///",
                    linewidth=0.5,
                )
            ax.text(
                (span.end_ns - t0) / 1e6,
                y,
                f" {span.duration_ms:.2f}",
                va="center",
                fontsize=7,
            )
        labels = [
            ("· " * depth + f"{span.service}: {span.name}")[:LABEL_CHARS] for depth, span in rows
        ]
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ms after the trace's start (hatched: waiting before the handler)")
        ax.grid(axis="y", visible=False)
        ax.set_xlim(left=0)
        suffix = f" ({cut} more spans not shown)" if cut > 0 else ""
        ax.set_title(f"{title}{suffix}", fontsize=9)
        return save(fig, out_dir, name)
