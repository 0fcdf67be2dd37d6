"""`lab report`'s work: draw every figure into the figures folder (emptied of old PNGs first,
so none outlives its data) and write REPORT.md beside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.report import chaos_figures, figures
from lab.report.chaos_findings import experiments
from lab.report.findings import main_label
from lab.report.markdown import Figures, rel, render
from lab.report.model import IMPLS
from lab.report.sources import Runs

FIGURES_DIR = "report-figures"  # beside REPORT.md


@dataclass(frozen=True)
class Written:
    report: Path
    figures: list[Path]


def draw(runs: Runs, out_dir: Path) -> Figures:
    figs = Figures()
    if runs.bench is not None:
        bench = runs.bench
        doc = bench.doc
        # Every measured run (scenario at a rate: the same load for both sides), compared or not.
        measured = [
            r
            for impl in IMPLS
            for r in doc.get("aggregate", {}).get(impl, {}).get("runs", {}).items()
        ]
        labels: dict[str, dict[str, None]] = {}
        for label, run in measured:
            labels.setdefault(label, {}).update(dict.fromkeys(run.get("operations", {})))
        for label, ops in labels.items():
            figs.spectra.append(figures.spectrum(bench, label, list(ops), out_dir))
        figs.load = figures.load_curve(bench, out_dir)
        figs.lag = figures.lag_cdf(bench, out_dir)
        label = main_label(doc)
        if label is not None:
            figs.cost = figures.cost(bench, label, out_dir)
    if runs.chaos:
        figs.heatmap = chaos_figures.heatmap(runs.chaos, out_dir)
        faults = dict.fromkeys(e["fault"] for _, e in experiments(runs.chaos))
        figs.timelines = [chaos_figures.timeline(runs.chaos, f, out_dir) for f in faults]
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
