"""The shape of every operation of each implementation, declared once: which service receives
it, whom that service calls (in parallel, then one after the other), and how many primary-key
reads and one-row commits each service makes on its own database.

Two things are derived from it: the floor's parts on each operation's critical path
(calibration.SHAPES: hops, commits, reads; docs/METHOD.md, Calibration) and the plans a bare
chain of the same shape runs (bare_chain.PLANS; docs/METHOD.md, Capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A bare chain's plan: JSON sent with each request (see bare_chain): {"par": [[role, plan], ...],
# "seq": [[role, plan], ...], "r": reads, "c": commits}, every key optional.
Plan = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """What one service does for an operation: call `par` at once, then `seq` in turn, then make
    `reads` reads and `commits` commits on its own database."""

    role: str  # the service (stack.topology.SERVICES)
    par: tuple[Step, ...] = ()
    seq: tuple[Step, ...] = ()
    reads: int = 0
    commits: int = 0


_SYNC: dict[str, Step] = {
    "CreatePost": Step("posts", commits=1),
    # The post is read beside the moderation call, then the comment is committed.
    "CreateComment": Step(
        "comments", par=(Step("posts", reads=1), Step("moderation", commits=1)), commits=1
    ),
    "GetPostView": Step("query", par=(Step("posts", reads=1), Step("comments", reads=1))),
    "ListPostViews": Step("query", seq=(Step("posts", reads=1), Step("comments", reads=1))),
}
OPERATIONS: dict[str, dict[str, Step]] = {
    "sync": _SYNC,
    # The patterns add no hop, read or commit: the same shape, so the same floor and bare chain.
    "sync-resilient": _SYNC,
    # Each operation is served by one service from its own database (the rest is events).
    "async": {
        "CreatePost": Step("posts", commits=1),
        "CreateComment": Step("comments", commits=1),
        "GetPostView": Step("query", reads=2),
        "ListPostViews": Step("query", reads=2),
    },
}


def critical_path(step: Step) -> tuple[int, int, int]:
    """(gRPC hops, commits, reads) on the step's critical path, its own hop included. Of calls
    made in parallel the slowest counts: most hops, then most commits (a commit waits for the
    disk), then most reads; calls made in turn all count."""
    on_path = [critical_path(s) for s in step.seq]
    if step.par:
        on_path.append(max(critical_path(s) for s in step.par))
    return (
        1 + sum(hops for hops, _, _ in on_path),
        step.commits + sum(commits for _, commits, _ in on_path),
        step.reads + sum(reads for _, _, reads in on_path),
    )


def plan(step: Step) -> Plan:
    """The bare chain's plan for the service receiving `step` (keys only where there is work)."""
    out: Plan = {}
    if step.par:
        out["par"] = [[s.role, plan(s)] for s in step.par]
    if step.seq:
        out["seq"] = [[s.role, plan(s)] for s in step.seq]
    if step.reads:
        out["r"] = step.reads
    if step.commits:
        out["c"] = step.commits
    return out


def floor_shapes() -> dict[str, dict[str, tuple[int, int, int]]]:
    """Per implementation and operation: (hops, commits, reads) on its critical path."""
    return {
        impl: {op: critical_path(step) for op, step in ops.items()}
        for impl, ops in OPERATIONS.items()
    }


def chain_plans() -> dict[str, dict[str, tuple[str, Plan]]]:
    """Per implementation and operation: (entry role, plan) for a bare chain."""
    return {
        impl: {op: (step.role, plan(step)) for op, step in ops.items()}
        for impl, ops in OPERATIONS.items()
    }
