"""Locust started by hand the way the README shows it (headless here, for 6 s), with no seed file:
every operation of the mix must reach Locust's statistics, and nothing may fail inside the
generator. And the chaos scenario's per-request log (--lab-request-log)."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.load.scenarios import SCENARIOS
from lab.chaos.records import WRITES, read_request_log
from lab.stack.runner import Stack
from tests.helpers import start_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sync_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack("sync", tmp_path_factory.mktemp("locust-ui-stack"))
    try:
        yield stack
    finally:
        stack.stop()


def run_locust(stack: Stack, scenario: str, prefix: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "locust", "-f", "benchmarks/locustfile.py"]
    command += ["--lab-stack", str(stack.stack_file), "--lab-scenario", scenario, *extra]
    command += ["--headless", "-u", "5", "-r", "5", "-t", "6s", "--csv", str(prefix)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    # 1: some requests failed (Locust's exit code); the checks below say which.
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]


def stats_rows(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv") as rows:
        return {row["Name"]: row for row in csv.DictReader(rows) if row["Name"] != "Aggregated"}


def generator_failures(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_failures.csv") as rows:
        return [row for row in csv.DictReader(rows) if "GENERATOR_" in row["Error"]]


def test_readme_command_without_seed_file_shows_every_operation(
    sync_stack: Stack, tmp_path: Path
) -> None:
    prefix = tmp_path / "locust"
    run_locust(sync_stack, "mixed", prefix)
    rows = stats_rows(prefix)
    for op in SCENARIOS["mixed"]:
        assert op in rows, (op, sorted(rows))
        assert int(rows[op]["Request Count"]) > 0, rows[op]
    assert generator_failures(prefix) == []


def test_chaos_scenario_writes_a_request_log(sync_stack: Stack, tmp_path: Path) -> None:
    prefix, log_dir = tmp_path / "locust", tmp_path / "requests"
    started = time.time()
    run_locust(sync_stack, "chaos", prefix, "--lab-rate", "20", "--lab-request-log", str(log_dir))
    finished = time.time()
    assert generator_failures(prefix) == []
    rows = stats_rows(prefix)
    assert set(SCENARIOS["chaos"]) <= set(rows)

    files = sorted(log_dir.glob("requests-*.jsonl"))
    assert len(files) == 1  # one generator process
    records = read_request_log(files)
    assert {r.op for r in records} == set(SCENARIOS["chaos"])
    assert not [r for r in records if r.status.startswith("GENERATOR_")]
    for r in records:
        assert started - 1 < r.scheduled <= r.end < finished + 1, r  # wall clock
        if r.op in WRITES:
            assert r.request_id, r
            assert r.id or not r.ok, r
        else:
            assert not r.request_id and not r.id, r
        if r.op in ("CreateComment", "GetPost", "ListComments", "GetPostView"):
            assert r.post_id, r
    assert len({r.request_id for r in records if r.op in WRITES}) == sum(
        r.op in WRITES for r in records
    )
    # The chaos scenario comments on (and reads) the posts it created lately, once there are any.
    created = {r.id for r in records if r.op == "CreatePost" and r.ok}
    comments = [r for r in records if r.op == "CreateComment"]
    assert sum(r.post_id in created for r in comments) > len(comments) / 2
