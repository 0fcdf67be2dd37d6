"""`lab compare` and lab/report/pooled.py: each side's runs pooled into one set of repetitions,
compared figure by figure (synthetic sides made from the committed fixture: "before" is the
fixture with async's comments database at twice the transactions per operation)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.report.evidence import main_label
from lab.report.pooled import pool
from lab.report.sources import BenchRun, ReportError, read_run
from tests.unit.report_fixture import RESULTS, fixture_summary, one_run

BENCH, CHAOS = one_run("bench"), one_run("chaos")
LABEL = main_label(fixture_summary(BENCH)) or ""


def copy_run(root: Path, run_id: str, started: str, double_comments: bool = False) -> None:
    target = root / run_id
    shutil.copytree(RESULTS / BENCH, target)
    summary = json.loads((target / "summary.json").read_text())
    summary["run_id"] = run_id
    if double_comments:
        for rep in summary["reps"]:
            rep["impls"]["async"]["runs"][LABEL]["cost"]["db_transactions_per_op"]["comments"] *= 2
    (target / "summary.json").write_text(json.dumps(summary))
    meta = json.loads((target / "meta.json").read_text())
    (target / "meta.json").write_text(json.dumps({**meta, "run_id": run_id, "started_at": started}))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    copy_run(root, "b1", "2026-01-01T01:00:00+00:00", double_comments=True)
    copy_run(root, "a1", "2026-01-01T02:00:00+00:00")
    copy_run(root, "a2", "2026-01-01T03:00:00+00:00")
    copy_run(root, "b2", "2026-01-01T04:00:00+00:00", double_comments=True)
    shutil.copytree(RESULTS / CHAOS, root / CHAOS)
    return root


def bench(results: Path, run_id: str) -> BenchRun:
    run = read_run(results / run_id)
    assert isinstance(run, BenchRun)
    return run


def test_pooling_puts_every_repetition_of_every_run_in_one_spread(results: Path) -> None:
    one = bench(results, "a1")
    both = pool([one, bench(results, "a2")])
    assert both.run_id == "a1+a2" and both.doc["repetitions"] == 2 * one.doc["repetitions"]
    assert [r["rep"] for r in both.doc["reps"]] == list(range(1, 2 * one.doc["repetitions"] + 1))
    cpu = both.doc["aggregate"]["sync"]["runs"][LABEL]["cpu_s_per_1000_ok"]["posts"]
    alone = one.doc["aggregate"]["sync"]["runs"][LABEL]["cpu_s_per_1000_ok"]["posts"]
    assert cpu["n"] == 2 * len(alone["values"]) and sorted(cpu["values"]) == sorted(
        alone["values"] * 2
    )
    assert pool([one]) is one
    with pytest.raises(ReportError):
        pool([])
    other = BenchRun("x", "bench", one.path, one.meta, {**one.doc, "profile": "full"})
    with pytest.raises(ReportError, match="different profiles"):
        pool([one, other])


def test_compare_names_what_moved_and_lists_the_runs_in_the_order_taken(
    results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "COMPARISON.md"
    argv = ["compare", "--results-dir", str(results), "--before", "b1", "b2"]
    assert main([*argv, "--after", "a1", "a2", "--out", str(out)]) == 0
    text = out.read_text()
    assert f"`lab compare --results-dir {results} --before b1 b2 --after a1 a2`" in text
    taken = [line.split(" | ")[0].strip("| `") for line in text.splitlines() if "| `" in line]
    assert taken[:4] == ["b1", "a1", "a2", "b2"]
    rows = [line for line in text.splitlines() if "database transactions per op: comments" in line]
    sync_row, async_row = rows
    assert sync_row.endswith("~ |") and async_row.endswith("0.500× lower |")
    assert any(line.startswith("- async:") and "lower" in line for line in text.splitlines())


def test_compare_refuses_what_is_not_a_benchmark_run_in_one_line(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", "--results-dir", str(results), "--before", CHAOS, "--after", "a1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "benchmark run" in err
