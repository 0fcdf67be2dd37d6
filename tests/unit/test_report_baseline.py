"""`lab report --baseline`: the benchmark run against an earlier run of the same suite, each
figure named a change only when the two runs' ranges do not overlap (a baseline made from the
committed fixture of real runs: async's comments database at twice the transactions per operation
and async's p50s at twice the latency; sync left as it is)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.suite.stats import spread
from lab.cli.main import main
from lab.report.baseline import change, finding, section
from lab.report.evidence import main_label
from lab.report.sources import BenchRun, ReportError, select
from tests.unit.report_fixture import RESULTS, fixture_summary, one_run

BENCH, CHAOS = one_run("bench"), one_run("chaos")
LABEL = main_label(fixture_summary(BENCH)) or ""
BASELINE = "20251231T000000Z"


def doubled(s: dict) -> dict:
    return {**s, "median": s["median"] * 2, "min": s["min"] * 2, "max": s["max"] * 2,
            "values": [v * 2 for v in s["values"]]}  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for run_id in (BENCH, CHAOS):
        shutil.copytree(RESULTS / run_id, root / run_id)
    base = root / BASELINE
    shutil.copytree(RESULTS / BENCH, base)
    summary = json.loads((base / "summary.json").read_text())
    summary["run_id"] = BASELINE
    for rep in summary["reps"]:
        cost = rep["impls"]["async"]["runs"][LABEL]["cost"]
        cost["db_transactions_per_op"]["comments"] *= 2
    for op in summary["aggregate"]["async"]["runs"][LABEL]["operations"].values():
        op["latency_ms"]["p50_ms"] = doubled(op["latency_ms"]["p50_ms"])
    (base / "summary.json").write_text(json.dumps(summary))
    meta = json.loads((base / "meta.json").read_text())
    (base / "meta.json").write_text(json.dumps({**meta, "run_id": BASELINE}))
    return root


def test_change_is_named_only_beyond_both_ranges() -> None:
    before, lower, overlapping = spread([4, 5, 6]), spread([2, 2.5, 3]), spread([3, 4.5, 5])
    assert change(before, lower) == "0.500× lower"
    assert change(lower, before) == "2.00× higher"
    assert change(before, overlapping) == "0.900× ~"
    assert change(before, spread([5])) == "1.00× n/a"
    assert change(None, before) == "-"


def test_the_section_names_what_moved_and_only_that(results: Path) -> None:
    runs = select(results, [BENCH], BASELINE)
    assert isinstance(runs.bench, BenchRun) and isinstance(runs.baseline, BenchRun)
    text = "\n".join(section(runs.bench, runs.baseline))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if "|" in line}
    assert rows["database transactions per op: comments"].endswith("lower |")
    assert rows["database transactions per op: posts"].endswith("~ |")
    sync_p50, async_p50 = (
        line for line in text.splitlines() if line.startswith(f"| {LABEL} CreateComment p50 |")
    )
    assert sync_p50.endswith("~ |") and async_p50.endswith("lower |")
    details = finding(runs.bench, runs.baseline).details
    sync, async_ = (next(d for d in details if d.startswith(f"{i}:")) for i in ("sync", "async"))
    assert " 0 lower, 0 higher" in sync
    assert "comments database transactions per operation" in async_ and "lower" in async_


def test_a_baseline_must_be_another_benchmark_run(results: Path) -> None:
    with pytest.raises(ReportError, match="is the benchmark run itself"):
        select(results, [BENCH], BENCH)
    with pytest.raises(ReportError, match="not a benchmark run"):
        select(results, [BENCH], CHAOS)
    with pytest.raises(ReportError, match="needs a benchmark run"):
        select(results, [CHAOS], BASELINE)


def test_the_report_says_how_to_regenerate_it_with_its_baseline(
    results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "REPORT.md"
    args = ["report", "--results-dir", str(results), BENCH, "--baseline", BASELINE]
    assert main([*args, "--out", str(out)]) == 0
    text = out.read_text()
    assert f"--baseline {BASELINE}`" in text and "## Against the baseline run" in text
    assert f"Against the baseline run {BASELINE}" in text  # the finding
