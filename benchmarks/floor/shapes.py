"""The shape of every operation of each implementation, declared once: which service receives
it, whom that service calls (in parallel, then one after the other), and how many primary-key
reads and one-row commits each service makes on its own database.

Two things are derived from it: the floor's parts on each operation's critical path
(calibration.SHAPES: hops, commits, reads; docs/METHOD.md, Calibration) and the plans a bare
chain of the same shape runs (bare_chain.PLANS; docs/METHOD.md, Capacity).

The async implementation also works off the request path: each write's event is published after
its commit, and each service that consumes an event commits once for it and may publish the
event it causes in turn. That background work is declared here too (PUBLISHED_BY_WRITE, CAUSED;
who consumes what is async_impl.subscriptions'), so the async bare chain can do the same work
beside its request path (benchmarks/floor/bare_background.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from async_impl.subscriptions import SUBSCRIPTIONS
from blog.events import COMMENT_CREATED, COMMENT_MODERATED, COMMENT_UPDATED, POST_CREATED
from lab.stack.topology import SERVICES

# A bare chain's plan: JSON sent with each request (see bare_chain): {"par": [[role, plan], ...],
# "seq": [[role, plan], ...], "r": reads, "c": commits, "pub": event}, every key optional ("pub":
# the event the receiving server publishes after its last commit, with background work only).
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
    publishes: str = ""  # the event its commit publishes, off the request path (async)


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
        "CreatePost": Step("posts", commits=1, publishes=POST_CREATED),
        "CreateComment": Step("comments", commits=1, publishes=COMMENT_CREATED),
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


def plan(step: Step, background: bool = False) -> Plan:
    """The bare chain's plan for the service receiving `step` (keys only where there is work);
    with `background`, the event its commit publishes too."""
    out: Plan = {}
    if step.par:
        out["par"] = [[s.role, plan(s, background)] for s in step.par]
    if step.seq:
        out["seq"] = [[s.role, plan(s, background)] for s in step.seq]
    if step.reads:
        out["r"] = step.reads
    if step.commits:
        out["c"] = step.commits
    if background and step.publishes:
        out["pub"] = step.publishes
    return out


def floor_shapes() -> dict[str, dict[str, tuple[int, int, int]]]:
    """Per implementation and operation: (hops, commits, reads) on its critical path."""
    return {
        impl: {op: critical_path(step) for op, step in ops.items()}
        for impl, ops in OPERATIONS.items()
    }


def chain_plans(background: bool = False) -> dict[str, dict[str, tuple[str, Plan]]]:
    """Per implementation and operation: (entry role, plan) for a bare chain; with
    `background`, each write's plan names the event it publishes."""
    return {
        impl: {op: (step.role, plan(step, background)) for op, step in ops.items()}
        for impl, ops in OPERATIONS.items()
    }


# -- async: the work beside the request path --------------------------------------------------
# What a consumer publishes in turn, once it has committed an event it consumed: moderation
# decides a new comment, and the comments service announces the comment's final status.
CAUSED: dict[tuple[str, str], str] = {
    ("moderation", COMMENT_CREATED): COMMENT_MODERATED,
    ("comments", COMMENT_MODERATED): COMMENT_UPDATED,
}


def consumers_of(event: str) -> tuple[str, ...]:
    """The services that consume `event` (each commits once for it), in SERVICES order."""
    return tuple(role for role in SERVICES if event in SUBSCRIPTIONS[role].consumes)


def consumed_by(role: str) -> frozenset[str]:
    """The events `role` consumes."""
    return SUBSCRIPTIONS[role].consumes


@dataclass(frozen=True)
class Background:
    """The work an event sets off beside the request path: events published (each through an
    outbox: published, then its row deleted) and consumer commits (one transaction each)."""

    publishes: int = 0
    consumer_commits: int = 0

    def __add__(self, other: Background) -> Background:
        return Background(
            self.publishes + other.publishes, self.consumer_commits + other.consumer_commits
        )


def background_of(event: str) -> Background:
    """`event` published, every consumer's commit, and everything those cause in turn."""
    work = Background(publishes=1)
    for role in consumers_of(event):
        work += Background(consumer_commits=1)
        caused = CAUSED.get((role, event))
        if caused:
            work += background_of(caused)
    return work


def background_work() -> dict[str, dict[str, Background]]:
    """Per implementation and operation: the work off its request path (sync: none)."""
    return {
        impl: {
            op: background_of(step.publishes) if step.publishes else Background()
            for op, step in ops.items()
        }
        for impl, ops in OPERATIONS.items()
    }
