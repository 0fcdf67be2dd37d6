"""`lab chaos --overload` end to end, small and short (the smoke profile: seconds, a few dozen
requests/s): a spike to twice a given C and back on plain sync, run by Chaos Toolkit; the
timeline has every field the method names, the figures are read off it, the timeline figure is
drawn, and the audit finds nothing acknowledged lost, duplicated or unexpected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "second",
    "offered",
    "completed",
    "good",
    "errors",
    "p50_ms",
    "p99_ms",
    "in_flight",
    "send_lag_p99_ms",
    "rpcs",
    "backlog",
    "outbox",
    "lag_p99_ms",
    "good_share",
    "attempts_per_request",
}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_spike_and_back_is_measured_per_second_and_audited(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "lab.cli", "chaos", "--overload", "--impl", "sync"]
    command += ["--base", "0.5", "--spike", "2", "--capacity", "60", "--profile", "smoke"]
    command += ["--results-dir", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=360)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    (experiment,) = summary["experiments"]
    assert (experiment["base_rate"], experiment["spike_rate"]) == (30.0, 120.0)
    total = experiment["audit"]["total"]
    assert total["acknowledged"] > 100
    assert (total["lost"], total["duplicated"], total["unexpected"]) == (0, 0, 0)
    assert experiment["chaostoolkit"]["every_activity_succeeded"]
    # The generator above the stack's priority where this machine lets a process raise one:
    # reniced, in its own session (autogroup) reniced too, in the real-time class.
    may_raise = subprocess.run(
        [sys.executable, "-c", "import os; os.setpriority(os.PRIO_PROCESS, 0, -5)"], check=False
    )
    expected = -5 if may_raise.returncode == 0 else os.getpriority(os.PRIO_PROCESS, 0)
    may_fifo = subprocess.run(
        [sys.executable, "-c", "import os; os.sched_setscheduler(0, 1, os.sched_param(1))"],
        check=False,
    )
    generator = experiment["generator"]
    assert generator["niceness"] == expected
    assert (generator["engine"], generator["processes"]) == ("asyncio", 1)
    assert generator["scheduler"] == ("fifo" if may_fifo.returncode == 0 else "other")
    if Path("/proc/self/autogroup").exists() and may_raise.returncode == 0:
        assert generator["autogroup_nice"] == -5
    requests = list((run_dir / "sync" / "overload@0.5" / "requests").glob("requests-*.jsonl"))
    assert len(requests) == 1  # one asyncio generator, its own log
    out = run_dir / "sync" / "overload@0.5"
    seconds = json.loads((out / "timeline.json").read_text())
    assert all(FIELDS <= row.keys() for row in seconds)
    spike = [row for row in seconds if 0 <= row["second"] < 5]
    assert sum(row["offered"] for row in spike) > 2 * sum(
        row["offered"] for row in seconds if -4 <= row["second"] < 0
    )  # the spike offered about four times the base rate
    read = experiment["figures"]
    assert {"recovery_s", "metastable", "drain_s", "predicted_drain_s"} <= read.keys()
    assert read["predicted_drain_s"] == pytest.approx(5 * 60 / 30, rel=0.2)
    assert (out / "timeline.png").stat().st_size > 1000
