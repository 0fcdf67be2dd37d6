"""lab/report/capacity_noise.py on the committed fixture: every rate a sweep ran twice is listed
with both p99s, and the finding puts the capacity's movement beside the goal."""

from __future__ import annotations

from pathlib import Path

from lab.report.capacity_noise import finding, lines, retried, scenarios
from lab.report.sources import BenchRun, read_run

RUN = Path(__file__).resolve().parent.parent / "fixtures" / "report" / "runs" / "20260101T000000Z"


def bench() -> BenchRun:
    run = read_run(RUN)
    assert isinstance(run, BenchRun)
    return run


def test_every_rate_run_twice_is_listed_once_with_both_p99s() -> None:
    tries = retried(bench(), "mixed")
    # The fixture confirms each miss once: 5 implementation sweeps and 5 bare chains missed.
    assert len(tries) == 10
    first = tries[0]
    assert (first.impl, first.rep, first.sweep, first.rate) == ("sync", 1, "implementation", 400)
    assert first.p99_ms == (80.0, 75.0) and round(first.spread, 4) == round(80 / 75, 4)
    assert {t.sweep for t in tries} == {"implementation", "bare chain"}
    table = lines(bench(), "mixed")
    assert sum(1 for line in table if line.startswith("| sync | 1 |")) == 2  # impl and bare chain


def test_the_finding_sets_the_movement_beside_the_goal() -> None:
    assert scenarios(bench()) == ["mixed"]
    found = finding(bench(), "mixed")
    assert found is not None
    # capacity_relative_range in the fixture's targets: sync 22 %, async 29 %; goal 10 %.
    assert "sync 22 %, async 29 %" in found.text and "at most 10 %" in found.text
    assert "differed by up to 1.07×" in found.text


def test_no_sweep_no_finding_and_no_table(tmp_path: Path) -> None:
    run = bench()
    doc = {**run.doc, "aggregate": {}, "reps": []}
    empty = BenchRun(run.run_id, "bench", tmp_path, run.meta, doc)
    assert scenarios(empty) == []
    assert finding(empty, "mixed") is None and lines(empty, "mixed") == []
