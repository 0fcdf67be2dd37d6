"""The report's capacity section (lab/report/capacity_section.py): the machine's speed during
the run beside the capacities, and each pair's plateau ratio, also for a run whose summary
predates it (computed from its steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.suite import aggregate
from benchmarks.suite.results import Repetition
from lab.report.capacity_section import section
from lab.report.sources import Run
from tests.unit.test_bench_statistics import impl_result, run


def bench_run(drop_plateau_ratio: bool) -> Run:
    reps: list[Repetition] = []
    for rep, echo in ((1, 0.6), (2, 0.7)):
        impls = {
            "sync": impl_result("sync", run(2.0, 10.0, 1.6), 300, 400),
            "async": impl_result("async", run(4.0, 30.0, 2.0), 450, 500),
        }
        for result in impls.values():
            result["calibration_ms"] = {"grpc_echo": {"count": 10, "p50_ms": echo}}
        reps.append({"rep": rep, "order": list(impls), "impls": impls})
    figures = {i: aggregate.aggregate(aggregate.per_impl(reps, i)) for i in ("sync", "async")}
    comparisons: dict[str, Any] = dict(aggregate.comparisons(figures, reps))
    if drop_plateau_ratio:
        for by_scenario in comparisons["capacity"].values():
            for cmp in by_scenario.values():
                del cmp["plateau_ratio"]
    summary = {"reps": reps, "aggregate": figures, "comparisons": comparisons}
    return Run("20261207T000000Z", "bench", Path("."), {}, summary)


def test_the_capacity_section_names_the_machines_speed_and_the_plateau_ratio() -> None:
    for old in (False, True):
        text = "\n".join(section(bench_run(drop_plateau_ratio=old)))
        # The echo's median over the four stacks (0.6, 0.6, 0.7, 0.7).
        assert "had a p50 of 0.650 ms" in text
        row = next(line for line in text.splitlines() if line.startswith("| mixed | async ÷ sync"))
        # Plateaus 450 and 300/s: 1.50, the same from the summary and from the steps.
        assert row.rstrip(" |").endswith("1.50 [1.50–1.50]"), row
