"""Who consumes and who publishes what: the async system declared as data, apart from how it
runs (each service's consumer is checked against this when it starts)."""

from __future__ import annotations

from dataclasses import dataclass

from blog.events import COMMENT_CREATED, COMMENT_MODERATED, COMMENT_UPDATED, POST_CREATED


@dataclass(frozen=True)
class Subscription:
    """The events a service consumes (its durable consumer's filter) and those it publishes."""

    consumes: frozenset[str]
    publishes: frozenset[str]


SUBSCRIPTIONS: dict[str, Subscription] = {
    "posts": Subscription(consumes=frozenset(), publishes=frozenset({POST_CREATED})),
    "comments": Subscription(
        consumes=frozenset({POST_CREATED, COMMENT_MODERATED}),
        publishes=frozenset({COMMENT_CREATED, COMMENT_UPDATED}),
    ),
    "moderation": Subscription(
        consumes=frozenset({COMMENT_CREATED}), publishes=frozenset({COMMENT_MODERATED})
    ),
    "query": Subscription(
        consumes=frozenset({POST_CREATED, COMMENT_CREATED, COMMENT_UPDATED}),
        publishes=frozenset(),
    ),
}
