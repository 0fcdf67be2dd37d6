"""The operations' shapes are declared once (benchmarks.floor.shapes); the floor's parts and the
bare chain's plans derived from them are the values the lab used when both were written by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator

from benchmarks.floor.bare_chain import PLANS
from benchmarks.floor.calibration import SHAPES
from benchmarks.floor.shapes import OPERATIONS, Step
from lab.stack.topology import IMPLS, SERVICES

# (gRPC hops, commits, reads) on each operation's critical path, as written by hand before.
HAND_SHAPES = {
    "sync": {
        "CreatePost": (1, 1, 0),
        "CreateComment": (2, 2, 0),
        "GetPostView": (2, 0, 1),
        "ListPostViews": (3, 0, 2),
    },
    "sync-resilient": {
        "CreatePost": (1, 1, 0),
        "CreateComment": (2, 2, 0),
        "GetPostView": (2, 0, 1),
        "ListPostViews": (3, 0, 2),
    },
    "async": {
        "CreatePost": (1, 1, 0),
        "CreateComment": (1, 1, 0),
        "GetPostView": (1, 0, 2),
        "ListPostViews": (1, 0, 2),
    },
}

# (entry role, plan) of each operation in a bare chain, as written by hand before.
HAND_PLANS = {
    "sync": {
        "CreatePost": ("posts", {"c": 1}),
        "CreateComment": (
            "comments",
            {"par": [["posts", {"r": 1}], ["moderation", {"c": 1}]], "c": 1},
        ),
        "GetPostView": ("query", {"par": [["posts", {"r": 1}], ["comments", {"r": 1}]]}),
        "ListPostViews": ("query", {"seq": [["posts", {"r": 1}], ["comments", {"r": 1}]]}),
    },
    "sync-resilient": {
        "CreatePost": ("posts", {"c": 1}),
        "CreateComment": (
            "comments",
            {"par": [["posts", {"r": 1}], ["moderation", {"c": 1}]], "c": 1},
        ),
        "GetPostView": ("query", {"par": [["posts", {"r": 1}], ["comments", {"r": 1}]]}),
        "ListPostViews": ("query", {"seq": [["posts", {"r": 1}], ["comments", {"r": 1}]]}),
    },
    "async": {
        "CreatePost": ("posts", {"c": 1}),
        "CreateComment": ("comments", {"c": 1}),
        "GetPostView": ("query", {"r": 2}),
        "ListPostViews": ("query", {"r": 2}),
    },
}


def test_floor_shapes_are_the_hand_written_ones() -> None:
    assert SHAPES == HAND_SHAPES


def test_bare_chain_plans_are_the_hand_written_ones() -> None:
    assert PLANS == HAND_PLANS
    # What the generator reads (bare-chain-routes.json): the same JSON, key order included.
    assert json.dumps(PLANS) == json.dumps(HAND_PLANS)


def test_every_implementation_declares_the_same_operations_on_its_services() -> None:
    assert set(OPERATIONS) == set(IMPLS)
    operations = {impl: set(ops) for impl, ops in OPERATIONS.items()}
    assert operations["sync"] == operations["sync-resilient"] == operations["async"]

    def roles(step: Step) -> Iterator[str]:
        yield step.role
        for sub in (*step.par, *step.seq):
            yield from roles(sub)

    for ops in OPERATIONS.values():
        for step in ops.values():
            assert set(roles(step)) <= set(SERVICES)
