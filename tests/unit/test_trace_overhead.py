"""Unit tests of benchmarks/suite/trace_overhead.py's figures: each share's spread over its runs,
compared with the first share's, called higher or lower only when the ranges do not overlap."""

from __future__ import annotations

from benchmarks.suite.trace_overhead import TraceRun, document, figures, table


def run(impl: str, sample: float, rep: int, p50: float, p99: float, cpu: float) -> TraceRun:
    return {
        "impl": impl,
        "sample": sample,
        "repetition": rep,
        "offered_rate": 50.0,
        "achieved_rate": 50.0,
        "error_rate": 0.0,
        "latency_ms": {"CreateComment": {"count": 100, "p50_ms": p50, "p99_ms": p99}},
        "services_cpu_s_per_1000": cpu,
        "generator_cpu_percent": 10.0,
    }


RUNS = [
    run("sync", 0, 1, 5.0, 20.0, 6.0),
    run("sync", 1, 1, 7.0, 25.0, 9.0),
    run("sync", 1, 2, 7.5, 18.0, 9.2),
    run("sync", 0, 2, 5.5, 30.0, 6.2),
]


def test_each_share_against_the_first() -> None:
    off, on = figures(RUNS, "sync", [0, 1])
    assert off["runs"] == on["runs"] == 2
    assert off["p50_ms"]["CreateComment"]["median"] == 5.25
    assert on["vs_first"]["CreateComment p50_ms"] == {
        "ratio": round(7.25 / 5.25, 3),
        "verdict": "higher",
    }
    assert on["vs_first"]["CreateComment p99_ms"]["verdict"] == "~"  # 18-25 overlaps 20-30
    assert on["vs_first"]["services_cpu_s_per_1000"]["verdict"] == "higher"
    assert off["vs_first"] == {}


def test_one_run_per_share_claims_no_difference() -> None:
    off, on = figures(RUNS[:2], "sync", [0, 1])
    assert on["vs_first"]["CreateComment p50_ms"]["verdict"] == "n/a"


def test_the_table_names_every_share() -> None:
    from benchmarks.suite.context import BenchConfig

    config = BenchConfig(impls=["sync"], trace_sample=[0, 1], rate=50)
    text = table(document(config, {}, RUNS))  # type: ignore[arg-type]
    assert "sync tracing 0 (2 runs)" in text and "sync tracing 1 (2 runs)" in text
    assert "(x1.381, higher)" in text
