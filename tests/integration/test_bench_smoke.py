"""A short real `lab bench` run (smoke profile): the results files exist and agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.load.hdr import merge
from lab.stack.topology import SERVICES

PERCENTILES = ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms")


@pytest.mark.slow
@pytest.mark.timeout(360)  # the run's own bound is 300 s
def test_smoke_bench_writes_consistent_results(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "lab.cli", "bench", "--impl", "sync,async"]
    command += ["--profile", "smoke", "--rate", "30", "--results-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    meta = json.loads((run_dir / "meta.json").read_text())
    for key in ("git_commit", "cpu_model", "cpu_count", "python", "packages", "postgres"):
        assert meta["machine"][key], key
    assert meta["started_at"] < meta["ended_at"]
    assert meta["kind"] == "bench"
    summary = json.loads((run_dir / "summary.json").read_text())
    ((rep,),) = [summary["reps"]]  # the smoke profile: one repetition
    assert summary["repetitions"] == 1 and rep["order"] == ["sync", "async"]
    assert set(rep["impls"]) == set(summary["aggregate"]) == {"sync", "async"}
    for impl, r in rep["impls"].items():
        assert set(r["calibration_ms"]) >= {"grpc_echo", "pg_insert_commit", "pg_select"}
        assert ("jetstream_publish" in r["calibration_ms"]) == (impl == "async")
        ((label, run),) = r["runs"].items()
        out = run_dir / "rep-1" / impl / label
        assert (out / "locust_stats.csv").exists()
        generators = [json.loads(p.read_text()) for p in out.glob("generator-*.json")]
        assert generators
        assert run["requests"] == run["errors"] + sum(o["ok"] for o in run["operations"].values())
        assert run["requests"] > 0 and run["offered_rate"] == 30
        assert run["latency_ms"]["count"] == sum(o["ok"] for o in run["operations"].values())
        for op, o in run["operations"].items():
            raw = merge([(out / f"hdr-{op}-corrected.txt").read_text()])
            assert raw.get_total_count() == o["ok"] == o["latency_ms"]["count"]
            assert o["ok"] == sum(g["ops"][op]["ok"] for g in generators if op in g["ops"])
            values = [o["latency_ms"][p] for p in PERCENTILES]
            assert values == sorted(values), (impl, op, values)
            # Open loop: latency from the scheduled start is never below the service time.
            assert o["latency_ms"]["p50_ms"] >= o["service_time_ms"]["p50_ms"] * 0.999
            assert op in run["vs_floor"]
            # The bare chain of the same shape ran at the same rate right after.
            bare = run["bare_chain"]["operations"].get(op)
            if bare and bare["ok"]:
                ratio = o["latency_ms"]["p50_ms"] / bare["latency_ms"]["p50_ms"]
                assert run["vs_bare_chain"][op] == round(ratio, 3)
            figure = summary["aggregate"][impl]["runs"][label]["operations"][op]
            assert figure["latency_ms"]["p99_ms"]["values"] == [o["latency_ms"]["p99_ms"]]
        assert run["bare_chain"]["offered_rate"] == 30 and run["bare_chain"]["requests"] > 0
        # One profiled run per implementation: every service process sampled, a flame graph each.
        profiled = run["profile"]
        assert profiled["problems"] == []
        assert set(profiled["services"]) == {f"{s}-0" for s in SERVICES}
        for name, svg in profiled["files"].items():
            assert (out / "profile" / svg).read_text().startswith("<svg"), name
        assert set(run["cost"]["per_1000_ok"]) >= set(SERVICES)
        assert 0 < run["machine"]["busy_percent"] <= 100
        assert 0 <= run["machine"]["steal_percent"] <= run["machine"]["busy_percent"]
        if impl == "async":
            assert run["visibility_lag_ms"]["visibility_lag_us"]["count"] > 0
            assert run["cost"]["bus_per_op"]["stream_events"] > 0
        cap = r["capacity"]["mixed"]  # the smoke profile: a pilot, then a grid of 3 rates
        for sweep in (cap, cap["bare_chain"]):
            assert [s["phase"] for s in sweep["pilot"]] == ["pilot"] * len(sweep["pilot"])
            assert len(sweep["grid"]) == 3 and sweep["grid"] == sorted(sweep["grid"])
            # Every grid rate run once, in a shuffled order; each step judged against the SLO.
            assert sorted(s["offered_rate"] for s in sweep["steps"]) == sweep["grid"]
            for step in sweep["steps"]:
                assert step["phase"] == "grid"
                assert step["settled"]["wait_s"] > 0  # it waited for an idle machine first
                assert len(step["halves_p50_ms"]) == 2  # a queue or a stall: the medians say
                # The generator ran prioritized: its own session's autogroup reniced (and the
                # real-time class where this process may ask for it).
                granted = step["generator_priority"]
                assert granted["niceness"] == -5 or os.geteuid() != 0
                assert granted["autogroup_nice"] in (-5, None) or os.geteuid() != 0
                assert step["meets_slo"] == (
                    step["p99_ms"] is not None
                    and step["p99_ms"] <= cap["slo"]["p99_ms"]
                    and step["error_rate"] <= cap["slo"]["error_rate"]
                    and not step["growing"]
                )
            # What the noise sources did during each step, beside its raw files.
            prefix = "sweep" if sweep is cap else "bare-sweep"
            step_dir = run_dir / "rep-1" / impl / f"{prefix}-mixed" / f"grid@{sweep['grid'][0]:g}"
            noise = json.loads((step_dir / "noise.json").read_text())
            assert noise["duration_s"] > 0 and noise["problems"] == []
            assert {f"{s}-0" for s in SERVICES} <= set(noise["run_queue"]) and noise["gc"]
            assert set(noise["postgres"]) >= {"posts", "comments"}
        figures = summary["aggregate"][impl]["capacity"]["mixed"]["implementation"]
        # The fit's steps are the valid ones; each invalid step is named apart.
        assert figures["steps"] + len(figures["invalid_steps"]) == len(cap["steps"])
        assert figures["capacity"]["kind"] in ("estimate", "lower_bound", "upper_bound", "none")
        slowest = min(cap["grid"])
        bare_dir = run_dir / "rep-1" / impl / "bare-sweep-mixed" / f"grid@{slowest:g}"
        bare_ops = {p.name for p in bare_dir.glob("hdr-*-corrected.txt")}
        # The same mix of operations (a 2 s step may draw no CreatePost at all).
        mix = {
            f"hdr-{op}-corrected.txt"
            for op in ("CreatePost", "CreateComment", "GetPostView", "ListPostViews")
        }
        assert bare_ops and bare_ops <= mix
    assert result.stdout.count("; bare chain of the same shape:") == 2  # one table line each
    assert "1 repetition(s)" in result.stdout
    assert "results:" in result.stdout
    assert not list(run_dir.rglob("PG_VERSION")), "database files inside results/"
