"""A generator's process group is ended with it (benchmarks/load/priority.end_group): a
process its leader left behind does not outlive the run. Real processes, real signals."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from benchmarks.load.priority import end_group


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_process_left_behind_in_the_group_is_ended() -> None:
    # The leader starts a child in its own group (its session) and exits at once.
    leader = subprocess.Popen(["sh", "-c", "sleep 30 & exit 0"], start_new_session=True)
    leader.wait(timeout=10)
    assert group_alive(leader.pid)  # the sleep is still there
    end_group(leader.pid, grace_s=0.2)
    deadline = time.monotonic() + 5
    while group_alive(leader.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILLed; reaped by init
    assert not group_alive(leader.pid)


def test_a_group_that_ends_by_itself_is_given_its_grace() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 0.3 & exit 0"], start_new_session=True)
    leader.wait(timeout=10)
    started = time.monotonic()
    end_group(leader.pid, grace_s=10)
    # It returned once the group was empty, long before the grace ran out (no SIGKILL).
    assert not group_alive(leader.pid)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("pgid", [2**22 - 3])
def test_an_empty_group_is_nothing_to_do(pgid: int) -> None:
    end_group(pgid, grace_s=0.1)  # no such group: returns without error
