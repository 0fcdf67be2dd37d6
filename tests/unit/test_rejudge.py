"""A run's steps judged again by today's rules from their raw files (benchmarks/suite/rejudge.py):
a synthetic run whose stored verdicts are the old rule's, its generator files written as the
generator writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.load.hdr import record
from benchmarks.suite.rejudge import main, rejudge
from blog.rpc.metrics import new_histogram


def histogram(values_ms: list[float]) -> str:
    h = new_histogram()
    for v in values_ms:
        record(h, v * 1000)
    return h.encode().decode()


def generator_file(first_ms: list[float], second_ms: list[float]) -> dict[str, object]:
    every = first_ms + second_ms
    return {
        "pid": 1,
        "ops": {
            "GetPostView": {
                "ok": len(every),
                "partial": 0,
                "errors": {},
                "corrected": histogram(every),
                "service": histogram(every),
            }
        },
        "extra": {},
        "counters": {},
        "cpu_percent": [20.0],
        "send_lag": histogram([1.0] * len(every)),
        "in_flight": [3],
        "arrivals": len(every),
        "halves": [histogram(first_ms), histogram(second_ms)],
        "window_s": [0.0, 9.99],
    }


def stored_step(rate: float, halves: tuple[float, float], growing: bool) -> dict[str, object]:
    return {
        "phase": "grid",
        "offered_rate": rate,
        "achieved_rate": rate,
        "p99_ms": max(halves),
        "halves_p99_ms": list(halves),
        "error_rate": 0.0,
        "goodput_rate": rate,
        "generator_lag_p99_ms": 1.0,
        "generator_saturated": False,
        "steal_percent": 0.0,
        "meets_slo": not growing and max(halves) <= 50,
        "growing": growing,
        "valid": True,
        "flags": [],
    }


def synthetic_run(root: Path) -> Path:
    run = root / "20260101T000000Z"
    # 100/s: a stall in the second half (its tail alone); 200/s within the SLO; 300/s: a queue
    # (the median rose with the tail). The old rule called the first a queue growing, a miss.
    steps = {
        100: ([10.0] * 980 + [20.0] * 20, [10.0] * 970 + [90.0] * 30, True),
        200: ([12.0] * 1000, [12.0] * 1000, False),
        300: ([15.0] * 990 + [40.0] * 10, [60.0] * 700 + [400.0] * 300, True),
    }
    sweep = {"slo": {"p99_ms": 50.0, "error_rate": 0.001}, "pilot": [], "grid": [100, 200, 300]}
    sweep["steps"] = []
    for rate, (first, second, growing) in steps.items():
        out = run / "rep-1" / "sync" / "sweep-mixed" / f"grid@{rate}"
        out.mkdir(parents=True)
        (out / "generator-1.json").write_text(json.dumps(generator_file(first, second)))
        p99s = (sorted(first)[int(0.99 * len(first))], sorted(second)[int(0.99 * len(second))])
        sweep["steps"].append(stored_step(rate, p99s, growing))
    stored_curve = {
        "capacity": {"value": 90.0, "kind": "upper_bound", "low": None, "high": None},
        "per_repetition": [None],
        "per_repetition_kind": ["upper_bound"],
        "half_width": None,
    }
    summary = {
        "reps": [{"impls": {"sync": {"capacity": {"mixed": sweep}}}}],
        "aggregate": {"sync": {"capacity": {"mixed": {"implementation": stored_curve}}}},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_a_stall_judged_again_leaves_the_curve_and_the_queue_stays_a_miss(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path)
    (item,) = rejudge(run)
    assert [(c.rate, c.after) for c in item.changes] == [
        (100.0, "invalid: a stall in the second half: p99 20 ms then 90 ms")
    ]
    assert item.changes[0].halves_p50_ms == pytest.approx([10.0, 10.0], rel=0.01)  # HDR buckets
    # Today: 200/s meets, 300/s misses (a queue): the capacity lies between them.
    capacity = item.now["capacity"]
    assert capacity["kind"] == "estimate" and 200 < (capacity["value"] or 0) < 300
    # The raw files are read, not rewritten.
    assert not list(run.rglob("hdr-*.txt"))


def test_the_command_prints_both_curves_and_refuses_a_compact_copy(
    tmp_path: Path, capsys: object
) -> None:
    run = synthetic_run(tmp_path)
    out = tmp_path / "REJUDGED.md"
    assert main([str(run), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| sync | mixed | implementation | <= 90 |" in text
    assert "a stall in the second half" in text
    for generator in run.rglob("generator-*.json"):
        generator.unlink()  # what a compact copy keeps
    try:
        main([str(run)])
    except SystemExit as stop:
        assert stop.code == 2
    else:
        raise AssertionError("a run without its raw files was judged")
