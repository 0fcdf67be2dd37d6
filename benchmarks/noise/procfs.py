"""What the kernel says about CPU contention: the machine's CPU pressure (/proc/pressure/cpu,
PSI) and each thread's time on a CPU and waiting for one (/proc/<pid>/task/<tid>/schedstat).
Parsers are pure (tested on text); readers return None when a file is missing or unreadable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Pressure:
    """One line of a PSI file: the share of time some (or all) runnable tasks waited for a CPU,
    averaged over 10, 60 and 300 s (percent), and the total stall since boot (µs)."""

    avg10: float
    avg60: float
    avg300: float
    total_us: int


def parse_pressure(text: str) -> dict[str, Pressure]:
    """`some avg10=1.00 avg60=0.50 avg300=0.10 total=12345` lines, by their first word."""
    lines: dict[str, Pressure] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        if not fields:
            continue
        values = dict(field.split("=", 1) for field in fields)
        lines[kind] = Pressure(
            float(values["avg10"]),
            float(values["avg60"]),
            float(values["avg300"]),
            int(values["total"]),
        )
    return lines


def read_cpu_pressure(proc: Path = PROC) -> Pressure | None:
    """The machine's `some` CPU pressure; None without PSI (kernel < 4.20, or psi=0)."""
    try:
        return parse_pressure((proc / "pressure" / "cpu").read_text()).get("some")
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class SchedStat:
    """A thread's time on a CPU and waiting on a run queue, since it started (ns), and how many
    times it was scheduled."""

    run_ns: int
    wait_ns: int
    timeslices: int


def parse_schedstat(text: str) -> SchedStat:
    """`/proc/<pid>/schedstat`: three numbers, run time, run-queue wait (both ns), timeslices."""
    run, wait, slices = (int(x) for x in text.split()[:3])
    return SchedStat(run, wait, slices)


def thread_schedstats(pid: int, proc: Path = PROC) -> dict[int, SchedStat]:
    """Every thread of `pid` (the main one included), by thread id; {} if it is gone. A process's
    own /proc/<pid>/schedstat is its main thread's only, so a threaded server's (gRPC,
    nats-server) is the sum over its tasks."""
    stats: dict[int, SchedStat] = {}
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return stats
    for task in tasks:
        try:
            stats[int(task.name)] = parse_schedstat((task / "schedstat").read_text())
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return stats


def children(pid: int, proc: Path = PROC) -> list[int]:
    """Direct children of `pid` (from every thread's children list; Linux 3.5+)."""
    found: list[int] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def tree(pid: int, proc: Path = PROC) -> list[int]:
    """`pid` and all its descendants (a postmaster and its backends)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current, proc)
    return pids


def cmdline(pid: int, proc: Path = PROC) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")
