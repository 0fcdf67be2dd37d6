"""The load generator's CPU priority against the stack it measures (docs/METHOD.md, Load): a
session of its own, its scheduling autogroup reniced, the real-time class where permitted.

Why the autogroup: where the kernel groups processes by session (autogroup, the default here),
CPU is shared between sessions first and nice only orders processes within one. Every service
and PostgreSQL backend of a stack runs in a session of its own, so a reniced generator in the
lab's session still got one group's share: measured, its main thread waited 9.8 s of 20 s in
the run queue through a spike at nice -15 (docs/METHOD.md, Overload).

Why real time: even reniced in its own group, a generator on a machine whose every core the
stack saturates waits its turn behind the stack's processes (a 27 ms p99 send lag through a
650/s spike at nice -5, 1.4 ms in the real-time class). A real-time process runs as soon as it
is runnable; the kernel still keeps 5 % of every second for the others (sched_rt_runtime_us),
and the generator needs far less than a core: it stands in for a load generator on a machine
of its own. It changes when the generator runs, not how much CPU it takes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

# The generator's niceness when prioritized: above every process of the stack (nice 0).
GENERATOR_NICENESS = -5


@dataclass(frozen=True)
class Priority:
    """What a generator asks for: `niceness` for itself and its autogroup, `realtime` for the
    real-time class (SCHED_FIFO, its lowest priority)."""

    niceness: int = GENERATOR_NICENESS
    realtime: bool = True

    def preexec(self) -> Callable[[], None]:
        """subprocess.Popen's `preexec_fn` for it (with `start_new_session=True`: a session of
        its own, hence an autogroup of its own to renice)."""
        return lambda: prioritize(self.niceness, self.realtime)


def prioritize(niceness: int, realtime: bool) -> None:
    """In the child before exec: ask for `niceness`, for the process and for its scheduling
    autogroup, and with `realtime` for the real-time class; without the right to raise a
    priority, stay as it is (the caller records what the generator got)."""
    try:
        Path("/proc/self/autogroup").write_text(f"{niceness}\n")
    except OSError:
        pass  # no autogroup (or not permitted): the process's niceness is what orders it
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except OSError:
        pass
    if realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except OSError:
            pass


class Granted(TypedDict):
    """What a running generator process got: its niceness, scheduling class ("fifo": real
    time; "other": the default, where nice orders it) and its autogroup's nice (None: no
    autogroups here)."""

    niceness: int | None
    scheduler: str | None
    autogroup_nice: int | None


def granted(pid: int) -> Granted:
    """What `pid` runs with (None for each part once it has ended)."""
    try:
        niceness: int | None = os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:
        niceness = None
    try:
        policy = os.sched_getscheduler(pid)
        scheduler: str | None = "fifo" if policy == os.SCHED_FIFO else "other"
    except OSError:
        scheduler = None
    return {"niceness": niceness, "scheduler": scheduler, "autogroup_nice": autogroup_nice(pid)}


def autogroup_nice(pid: int) -> int | None:
    """The nice of `pid`'s scheduling autogroup ("/autogroup-N nice K"), None without one."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def stop_session(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """End a process started in a session of its own and every process of its group (Locust's
    workers): SIGTERM, SIGKILL for whatever is left after `timeout_s`. A terminal's Ctrl-C does
    not reach another session, so whoever started it must (`lab` turns SIGTERM into the same
    clean-up; killed outright, it leaves the generator to its own time limit)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def end_group(pgid: int, grace_s: float = 5.0) -> None:
    """Whatever is left of a process group whose leader has ended: `grace_s` to end by itself
    (a worker still flushing its files), then SIGKILL."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return  # nobody left in the group
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
