"""The operations' shapes are declared once (benchmarks.floor.shapes); the floor's parts and the
bare chain's plans derived from them are the values the lab used when both were written by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator

from async_impl.subscriptions import SUBSCRIPTIONS
from benchmarks.floor.bare_chain import BACKGROUND_PLANS, PLANS
from benchmarks.floor.calibration import SHAPES
from benchmarks.floor.shapes import (
    CAUSED,
    OPERATIONS,
    Background,
    Step,
    background_work,
    consumers_of,
)
from blog.events import COMMENT_CREATED, POST_CREATED
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


def test_the_async_background_plans_name_the_event_each_write_publishes() -> None:
    assert BACKGROUND_PLANS["sync"] == PLANS["sync"]  # sync does all its work on the request path
    published = {op: plan.get("pub") for op, (_, plan) in BACKGROUND_PLANS["async"].items()}
    assert published == {
        "CreatePost": POST_CREATED,
        "CreateComment": COMMENT_CREATED,
        "GetPostView": None,
        "ListPostViews": None,
    }
    # Apart from "pub", the request path is the one without background work.
    for op, (role, plan) in BACKGROUND_PLANS["async"].items():
        assert (role, {k: v for k, v in plan.items() if k != "pub"}) == PLANS["async"][op]


def test_background_work_per_operation_is_what_the_async_system_does() -> None:
    # A post: PostCreated, committed by comments (known posts) and query (its read model).
    # A comment: CommentCreated (moderation, query), moderation's CommentModerated (comments),
    # the comments service's CommentUpdated (query).
    assert background_work() == {
        "sync": {op: Background() for op in OPERATIONS["sync"]},
        "sync-resilient": {op: Background() for op in OPERATIONS["sync-resilient"]},
        "async": {
            "CreatePost": Background(publishes=1, consumer_commits=2),
            "CreateComment": Background(publishes=3, consumer_commits=4),
            "GetPostView": Background(),
            "ListPostViews": Background(),
        },
    }


def test_what_consumers_cause_agrees_with_the_async_subscriptions() -> None:
    for (role, consumed), caused in CAUSED.items():
        assert consumed in SUBSCRIPTIONS[role].consumes
        assert caused in SUBSCRIPTIONS[role].publishes
    # Every event a service publishes is published by one of its writes or caused by an event
    # it consumes: nothing the async system does off the request path is left out.
    by_write = {(s.role, s.publishes) for s in OPERATIONS["async"].values() if s.publishes}
    by_consumer = {(role, caused) for (role, _), caused in CAUSED.items()}
    declared = {(role, e) for role, sub in SUBSCRIPTIONS.items() for e in sub.publishes}
    assert by_write | by_consumer == declared
    assert consumers_of(COMMENT_CREATED) == ("moderation", "query")
