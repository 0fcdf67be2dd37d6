"""`lab report`'s work: draw every figure into the figures folder (emptied of old PNGs first,
so none outlives its data) and write REPORT.md beside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.report import chaos_figures, figures, hops_section, overload_section, sections
from lab.report.evidence import main_label
from lab.report.markdown import Figures, rel, render
from lab.report.sources import Runs
from lab.report.tables import labels_of

FIGURES_DIR = "report-figures"  # beside REPORT.md


@dataclass(frozen=True)
class Written:
    report: Path
    figures: list[Path]


def draw(runs: Runs, out_dir: Path) -> Figures:
    figs = Figures()
    if runs.bench is not None:
        bench = runs.bench
        doc = bench.summary
        labels = labels_of(doc)
        ylim = figures.spectrum_limits(bench, labels)
        for label in labels:
            ops = list(
                dict.fromkeys(
                    op
                    for a in doc.get("aggregate", {}).values()
                    for op in a.get("runs", {}).get(label, {}).get("operations", {})
                )
            )
            figs.spectra.append(figures.spectrum(bench, label, ops, out_dir, ylim))
        figs.load = figures.load_curve(bench, out_dir)
        figs.lag = figures.lag_cdf(bench, out_dir)
        main = main_label(doc)
        if main is not None:
            figs.cost = figures.cost(bench, main, out_dir)
    if runs.chaos:
        figs.heatmap = chaos_figures.heatmap(runs.chaos, out_dir)
    if runs.overload is not None:
        figs.overload = overload_section.draw_all(runs.overload, out_dir)
    if runs.trace is not None:
        chosen = hops_section.breakdown_share(runs.trace)
        if chosen is not None:
            share_dir = runs.trace.summary["hops"][chosen[0]]
            figs.extra[sections.HOPS] = hops_section.waterfalls(
                runs.trace, share_dir, chosen[1], out_dir
            )
    return figs


def build(runs: Runs, report: Path, figures_dir: Path | None = None) -> Written:
    """Write `report` and its figures (default: report-figures/ beside it)."""
    figures_dir = figures_dir or report.parent / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    for old in figures_dir.glob("*.png"):
        old.unlink()
    figs = draw(runs, figures_dir)
    text = render(runs, figs, rel(figures_dir, report.parent), report.parent)
    report.write_text(text)
    return Written(report, sorted(figures_dir.glob("*.png")))
