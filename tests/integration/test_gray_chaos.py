"""`lab chaos --dose-response` end to end (a subprocess): slow-db:posts at two doses on both
implementations, each experiment audited, the table printed and every dose's row written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DOSE_MS = 200.0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dose_response_of_a_slow_posts_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "chaos",
            "--impl",
            "sync,async",
            "--dose-response",
            "slow-db:posts",
            "--doses",
            f"0,{DOSE_MS:g}",
            "--profile",
            "smoke",
            "--results-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "slow-db:posts dose-response at " in result.stdout
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["kind"] == "dose-response" and summary["valid"]
    rows = {(r["impl"], r["dose"]): r for r in summary["rows"]}
    assert set(rows) == {("sync", 0), ("async", 0), ("sync", DOSE_MS), ("async", DOSE_MS)}
    for (impl, dose), r in rows.items():
        assert r["audit"]["lost"] == 0 and r["audit"]["duplicated"] == 0, (impl, dose)
        assert (run_dir / impl / f"slow-db-posts-{dose:g}" / "rep-1" / "summary.json").exists()
        assert r["window_s"] > 0 and r["cpu_cores"]["fault-proxy"] >= 0
        get_post = r["operations"]["GetPost"]
        assert get_post["requests"] > 0
    # Every GetPost is a round trip to the posts database: at the dose, each pays it.
    for impl in ("sync", "async"):
        slowed = rows[(impl, DOSE_MS)]["operations"]["GetPost"]
        assert slowed["p99_ms"] >= DOSE_MS * 0.9, (impl, slowed)
