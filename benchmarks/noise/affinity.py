"""Which cores the load generator and the stack may run on (docs/METHOD.md, Noise): the
generator pinned to one core, and the stack, if asked, kept off it.

Affinity is per thread on Linux: a child inherits the mask of the thread that forked it, and a
thread the mask of the thread that created it. So the generator is pinned by pinning the thread
that starts it (`pinned_children`), and a running stack by pinning every thread of every one of
its processes (`pin_stack`): the backends a postmaster forks later, and the threads a service
starts later, inherit it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.noise import procfs
from benchmarks.noise.sampler import components
from lab.stack.stackfile import StackInfo


def allowed_cores() -> set[int]:
    return set(os.sched_getaffinity(0))


def generator_core() -> int | None:
    """The core the generator gets (the highest this process may use); None with one core."""
    cores = allowed_cores()
    return max(cores) if len(cores) > 1 else None


@contextmanager
def pinned_children(cores: set[int]) -> Iterator[None]:
    """While inside, processes this thread starts run on `cores` only (and their children)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_stack(stack: StackInfo, cores: set[int]) -> int:
    """Every thread of every process of the stack (services, PostgreSQL servers and their
    backends, nats-server) on `cores` only; returns how many threads were pinned."""
    pinned = 0
    for roots in components(stack).values():
        for root in roots:
            for pid in procfs.tree(root):
                for tid in procfs.thread_schedstats(pid):
                    try:
                        os.sched_setaffinity(tid, cores)
                        pinned += 1
                    except (ProcessLookupError, PermissionError):
                        continue  # gone meanwhile
    return pinned
