"""The report judges an overload run's base rate again from its timeline, by the rule it
explains (lab/report/overload_read.py): a summary written by an older rule is not taken on
trust."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.report.overload_read import judged
from lab.report.sources import Run


def row(second: int, good: int, offered: int = 100) -> dict[str, Any]:
    return {"second": second, "offered": offered, "completed": offered, "good": good}


def run_with(tmp_path: Path, seconds: list[dict[str, Any]], figures: dict[str, Any]) -> Run:
    out = tmp_path / "async" / "overload@0.5"
    out.mkdir(parents=True)
    (out / "timeline.json").write_text(json.dumps(seconds))
    experiment = {
        "impl": "async",
        "base": 0.5,
        "times": {"spike_at": 100.0, "back_at": 130.0},
        "figures": figures,
    }
    return Run("r", "overload", tmp_path, {}, {"experiments": [experiment]})


def test_a_base_served_but_for_the_second_before_the_spike_is_served(tmp_path: Path) -> None:
    # Written by a rule that counted second -1 (the spike's late requests): "beyond it".
    seconds = [row(s, 100) for s in range(-8, -1)] + [row(-1, 80)]
    seconds += [row(s, 0) for s in range(0, 60)]  # never back after the spike
    older = {"recovery_s": None, "metastable": False, "overloaded_at_base": True}
    run = run_with(tmp_path, seconds, older)
    f = judged(run, run.summary["experiments"][0])
    assert f["overloaded_at_base"] is False and f["metastable"] is True


def test_without_a_timeline_the_summary_stands(tmp_path: Path) -> None:
    older = {"recovery_s": 3.0, "metastable": False, "overloaded_at_base": True}
    run = run_with(tmp_path, [], older)
    (tmp_path / "async" / "overload@0.5" / "timeline.json").unlink()
    assert judged(run, run.summary["experiments"][0]) == older
