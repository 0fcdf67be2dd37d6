"""Replicas of the async consumers share one durable consumer, and each hands an event over the
moment it arrives.

The defect this guards against: a consumer that keeps the messages it has received until its
pull request is full or expires. nats.py's fetch(batch, timeout) did that (async_impl/pull.py
says why it is not used): under a trickle of events, which replicas sharing one consumer see, a
message waited in the client for up to the whole timeout, and two replicas' visibility lag p99
went from ~20-60 ms to ~400-900 ms.

What is asserted, and why a loaded machine does not break it: at a trickle (write_heavy at 20
requests/s, a small share of the machine), every replica of every consuming service applied
events and none twice, and each replica's MEDIAN delivery delay (stream publish -> handed to
processing, per event) is under 50 ms. Measured at this test's load (2026-12-06): with
async_impl/pull.py made to keep messages until its request (up to 64 messages, 1 s expiry) is
full, the medians were 200-850 ms per replica and this test failed (333 ms); with the continuous
pull they were 2-3 ms, and 1.6-2.5 ms with two CPU-bound processes running beside the stack on
the 2 cores. A median moves only when most events wait, i.e. when the consumer is starved for
most of the run; a loaded machine's stalls and bursts move the tail. (An earlier version bounded
two replicas' lag p99 by one replica's, taken on another stack at another moment, at 100
requests/s; it failed on a loaded machine: 90.7 vs 515.1 ms.) The lag itself is the benchmark's
business: `lab bench --replicas 1,2` measures it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RATE = 20  # requests/s: a trickle, where keeping messages costs most, on a lightly used machine
MEDIAN_DELAY_BOUND_MS = 50.0  # continuous pull: 2-3 ms; kept until the request fills: >= 200 ms


@pytest.mark.slow
@pytest.mark.timeout(360)  # the run's own bound is 300 s
def test_replicas_share_the_work_and_hand_events_over_at_once(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "lab.cli", "bench", "--impl", "async", "--profile", "smoke"]
    command += ["--replicas", "2", "--scenario", "write_heavy", "--rate", str(RATE)]
    command += ["--duration", "8", "--results-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print("\n" + result.stdout.split("\n\n")[-1])  # the table (pytest -s)
    (run_dir,) = tmp_path.iterdir()
    (run,) = json.loads((run_dir / "summary.json").read_text())["replicas"]["async"]
    assert run["replicas"] == 2
    assert run["achieved_rate"] > RATE / 2
    for service in ("comments", "moderation", "query"):
        replicas = run["per_replica"][service]
        assert len(replicas) == 2, (service, replicas)
        for replica in replicas:
            assert replica["events_applied"] > 0, (service, replicas)
            assert replica["events_duplicate"] == 0, (service, replicas)
            delay = replica["delivery_delay_ms"]
            assert delay["count"] > 0, (service, replica)
            assert delay["p50_ms"] < MEDIAN_DELAY_BOUND_MS, (service, replica)
    assert not list(run_dir.rglob("PG_VERSION")), "database files inside results/"
