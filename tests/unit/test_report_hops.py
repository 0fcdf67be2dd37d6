"""The report's per-hop section on a hand-made tracing run: which share's breakdown it shows
(the smallest with enough traces per operation, else the one with the most), the overhead rows
with their verdicts, and the waterfalls copied beside the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.report.hops_section import ENOUGH_TRACES, breakdown_share, section, waterfalls
from lab.report.sources import Run


def breakdown(traces: int, waterfall: str | None = None) -> dict[str, Any]:
    hop = {"hop": "total", "category": "total", "traces": traces, "p50_ms": 4.0}
    hop |= {"p99_ms": 9.5, "offset_ms": 0.0}
    op: dict[str, Any] = {"impl": "sync", "operation": "CreateComment", "traces": traces}
    op |= {"incomplete": 1, "not_from_client": 0, "hops": [hop]}
    op |= {"typical_trace": "a", "p99_trace": "b", "waterfalls": []}
    if waterfall:
        op["waterfalls"] = [
            {"which": "typical", "trace_id": "a", "total_ms": 4.0, "spans": 7, "file": waterfall}
        ]
    return {"source": "x", "files": 1, "spans": 7 * traces, "traces": traces, "operations": [op]}


def trace_run(tmp_path: Path, shares: dict[str, int]) -> Run:
    hops = {}
    for share, traces in shares.items():
        name = f"hops-{share}"
        (tmp_path / name).mkdir()
        png = f"waterfall-{share}.png"
        (tmp_path / name / png).write_bytes(b"png")
        (tmp_path / name / "trace-summary.json").write_text(json.dumps(breakdown(traces, png)))
        hops[share] = name
    cpu = {"median": 2.0, "min": 1.9, "max": 2.1, "n": 2}
    traced_cpu = {"median": 2.4, "min": 2.3, "max": 2.5, "n": 2}
    figures = {
        "sync": [
            {"sample": 0.0, "runs": 2, "services_cpu_s_per_1000": cpu, "vs_first": {}},
            {
                "sample": 1.0,
                "runs": 2,
                "services_cpu_s_per_1000": traced_cpu,
                "vs_first": {
                    "services_cpu_s_per_1000": {"ratio": 1.2, "verdict": "higher"},
                    "CreateComment p99_ms": {"ratio": 1.05, "verdict": "~"},
                },
            },
        ]
    }
    summary = {"scenario": "write_heavy", "rate": 50, "figures": figures, "hops": hops}
    return Run("20260101T000000Z", "trace", tmp_path, {}, summary)


def test_the_smallest_share_with_enough_traces_is_shown(tmp_path: Path) -> None:
    run = trace_run(tmp_path, {"0.05": ENOUGH_TRACES - 1, "0.2": ENOUGH_TRACES, "1": 900})
    chosen = breakdown_share(run)
    assert chosen is not None and chosen[0] == "0.2"


def test_without_enough_traces_anywhere_the_most_traced_share(tmp_path: Path) -> None:
    run = trace_run(tmp_path, {"0.05": 3, "1": 40})
    chosen = breakdown_share(run)
    assert chosen is not None and chosen[0] == "1"


def test_section_says_the_overhead_and_each_hop(tmp_path: Path) -> None:
    run_dir, figures_dir = tmp_path / "run", tmp_path / "figures"
    run_dir.mkdir()
    figures_dir.mkdir()
    run = trace_run(run_dir, {"1": 150})
    chosen = breakdown_share(run)
    assert chosen is not None
    drawn = waterfalls(run, "hops-1", chosen[1], figures_dir)
    assert [d.file for d in drawn] == ["waterfall-1.png"]
    assert (figures_dir / "waterfall-1.png").read_bytes() == b"png"
    text = "\n".join(section(run, drawn, "figs"))
    row = "| sync | 1 | 2 | 2.40 [2.30–2.50] | ×1.20 (higher ✓) | CreateComment ×1.05 (~) |"
    assert row in text
    assert "**sync CreateComment**: 150 traces (1 incomplete: left out)" in text
    assert "| total | total | 4.00 | 9.50 | 150 |" in text
    assert "![sync CreateComment: a typical trace, 4.0 ms](figs/waterfall-1.png)" in text


def test_a_run_without_breakdown_says_so(tmp_path: Path) -> None:
    run = trace_run(tmp_path, {})
    assert breakdown_share(run) is None
    assert "*No per-hop breakdown in this run (no traced share).*" in section(run, [], "f")
