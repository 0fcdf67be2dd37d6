"""One short real chaos experiment per implementation: the comments database SIGKILLed under
load, run by Chaos Toolkit through `lab chaos`, audited. Bounds only a hang or a lost write
would break; the figures themselves are the benchmark's business."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(610)  # the run's own bound is 550 s (three implementations)
def test_kill_comments_database_every_implementation(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "chaos",
            "--impl",
            "sync,sync-resilient,async",
            "--fault",
            "kill-db:comments",
            "--profile",
            "smoke",
            "--results-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=550,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    for phase in ("warm-up", "steady state met", "fault at", "restored at", "recovered at"):
        assert phase in result.stdout, phase
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    impls = {e["impl"] for e in summary["experiments"]}
    assert summary["valid"] and impls == {"sync", "sync-resilient", "async"}
    for e in summary["experiments"]:
        out = run_dir / e["impl"] / "kill-db-comments" / f"rep-{e['repetition']}"
        for name in ("timeline.csv", "journal.json", "experiment.json", "summary.json"):
            assert (out / name).exists(), name
        assert list((out / "requests").glob("requests-*.jsonl"))
        assert not list(out.rglob("PG_VERSION")), "database files inside results/"
        audit = e["audit"]["total"]
        assert audit["attempted"] > 0 and audit["acknowledged"] > 0
        assert audit["lost"] == 0 and audit["unexpected"] == 0 and audit["duplicated"] == 0
        assert e["chaostoolkit"]["every_activity_succeeded"], e["chaostoolkit"]
        t = e["times"]
        assert t["load_started_at"] < t["injected_at"] < t["restored_at"] < t["load_stopped_at"]
        availability = e["availability"]
        # Both keep serving what does not need the comments database.
        assert availability["CreatePost"]["during"] >= 0.9
        # Both lose CreateComment while its database is down, and both get it back.
        assert availability["CreateComment"]["during"] <= 0.5
        assert availability["CreateComment"]["after"] >= 0.9
        assert e["recovery_s"]["CreateComment"] is not None
    by_impl = {e["impl"]: e for e in summary["experiments"]}
    # The difference the lab exists to show: async views are served from the read model.
    assert by_impl["async"]["availability"]["GetPostView"]["during"] >= 0.9
    assert by_impl["sync"]["availability"]["GetPostView"]["during"] <= 0.5
    assert by_impl["async"]["convergence_s"] is not None
    assert by_impl["sync"]["convergence_s"] is None  # no copy to converge
    # sync-resilient serves the post without its comments, says so, and is complete again
    # after the restore: PARTIAL in the request log, answered but counted apart.
    resilient = by_impl["sync-resilient"]
    for op in ("GetPostView", "ListPostViews"):
        assert resilient["cells"][op]["answered"] >= 0.9, op
        assert resilient["partial"][op]["during"] >= 0.9, op
        # Complete answers again once the breaker lets comments be asked: the last partial
        # answer ends soon after the restore (a half-open probe and a deadline), not at the end.
        t = resilient["times"]
        last = resilient["partial"][op]["last_partial_after_restore_s"]
        assert last is not None and last < t["load_stopped_at"] - t["restored_at"] - 1.0, op
        assert resilient["partial"][op]["last_partial_after_restore_s"] is not None
    records = [
        json.loads(line)
        for path in (run_dir / "sync-resilient" / "kill-db-comments").rglob("requests-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert {r["status"] for r in records if r["op"] == "GetPostView"} >= {"OK", "PARTIAL"}
    assert by_impl["sync"]["partial"] == {} and by_impl["async"]["partial"] == {}
    assert (
        summary["matrix"]["coupling_index"]["async"] < summary["matrix"]["coupling_index"]["sync"]
    )
