"""The noise sampler and quiesce() on a real stack: a CHECKPOINT and a VACUUM made inside the
sampled window show in every database's counters, every service process reports its GC
collections, every component its run-queue wait; and the noise study runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.noise.quiesce import quiesce
from benchmarks.noise.sampler import NoiseSampler, components
from blog.v1 import api_pb2
from lab.runs.rundir import RunDir
from lab.stack.runner import Stack
from tests.helpers import Api


def test_a_step_s_checkpoints_vacuums_gc_and_waits_are_sampled(stack: Stack, api: Api) -> None:
    info = stack.describe()
    sampler = NoiseSampler(info)
    sampler.start()
    for i in range(20):
        api.posts.CreatePost(api_pb2.CreatePostRequest(title=f"noise {i}", body="b"), timeout=5)
    quiesced = quiesce(info)
    sample = sampler.stop(settle_s=1.2)
    assert not sample.problems and not quiesced.problems
    assert sorted(quiesced.checkpointed) == sorted(quiesced.vacuumed) == sorted(info["databases"])
    for name, counters in sample.postgres.items():
        assert counters.checkpoints_requested >= 1, name  # quiesce's CHECKPOINT
        assert counters.vacuum_runs >= 1, name  # and its VACUUM of the service's tables
        assert counters.wal_syncs is not None and counters.wal_syncs >= 1, name
    assert set(sample.gc) == {
        f"{p.service}-{p.index}" for ps in stack.services.values() for p in ps
    }
    assert all(set(gens) == {"gen0", "gen1", "gen2"} for gens in sample.gc.values())
    assert set(sample.run_queue) >= set(components(info))
    assert sample.run_queue["posts-0"].run_ms > 0  # it served the posts
    assert sample.pressure.available == Path("/proc/pressure/cpu").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_noise_study_writes_its_tables_and_runs(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.noise", "--impl", "sync", "--repeat", "1"]
    command += ["--variants", "baseline,quiesce", "--steps-per-stack", "1", "--rate", "20"]
    command += ["--duration", "2", "--warmup", "1", "--seed-posts", "5"]
    command += ["--results-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (out,) = tmp_path.iterdir()
    run = RunDir.open(out)
    assert run.kind == "noise" and run.finished
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["variant"], r["impl"]) for r in summary["runs"]] == [
        ("baseline", "sync"),
        ("quiesce", "sync"),
    ]
    for variant in ("baseline", "quiesce"):
        record = json.loads((out / "runs" / variant / "sync" / "b1-s1.json").read_text())
        assert record["run"]["requests"] > 0 and record["noise"]["run_queue"]
        assert (record["quiesced"] is not None) == (variant == "quiesce")
    assert "| sync | quiesce |" in (out / "NOISE.md").read_text()
    assert not (out / "raw").exists()  # Locust's own files are not kept by default
