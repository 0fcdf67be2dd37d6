"""CPU time of a stack's components, read from outside (psutil), so the processes pay nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psutil


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid`, of its children it has reaped (a postmaster's ended
    backends) and of its live descendants; 0 when it is gone."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


def cpu_seconds(components: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """Component name -> CPU seconds so far of the process trees of its pids."""
    return {name: sum(tree_cpu_seconds(pid) for pid in pids) for name, pids in components.items()}
