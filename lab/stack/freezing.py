"""Freezing and thawing process trees (the freeze faults and their undo): SIGSTOP a process and
its descendants, SIGCONT them."""

from __future__ import annotations

import os
import signal
import time

import psutil


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the process first); empty when it is gone."""
    try:
        root = psutil.Process(pid)
        return [pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def freeze_tree(pid: int) -> list[int]:
    """SIGSTOP `pid`, then its descendants (again until no new one appears: a child forked just
    before the stop). Returns the stopped pids, `pid` first."""
    if not _signal(pid, signal.SIGSTOP):
        return []
    _await_stopped(pid)  # from then on it forks no new child
    frozen = [pid]
    for _ in range(5):
        new = [p for p in _tree(pid) if p not in frozen]
        if not new:
            break
        frozen += [p for p in new if _signal(p, signal.SIGSTOP)]
    return frozen


def _await_stopped(pid: int, timeout_s: float = 1.0) -> None:
    """Wait (briefly) until the kernel has acted on a SIGSTOP: signals arrive asynchronously."""
    deadline = time.monotonic() + timeout_s
    try:
        process = psutil.Process(pid)
        while process.status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.001)
    except psutil.NoSuchProcess:
        pass


def thaw_pids(pids: list[int]) -> list[int]:
    """SIGCONT each of `pids` and their current descendants, descendants first; returns the
    pids that received it."""
    everyone: list[int] = []
    for pid in pids:
        tree = _tree(pid)  # empty when gone: never signal a pid that may have been reused
        for p in [*tree[1:], *tree[:1]]:
            if p not in everyone:
                everyone.append(p)
    return [p for p in everyone if _signal(p, signal.SIGCONT)]
