"""The tables only the async implementation has, per service: the outbox (events waiting to be
published), the processed events (a consumer's idempotency record), the comments service's
known posts and held comments, and the query service's read model."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from blog.store.schema import TS, comment_table, post_table


def _outbox(metadata: sa.MetaData) -> sa.Table:
    """Events written in the same statement as the change they describe; the relay publishes
    them to JetStream and deletes them once the stream acknowledged them."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        # The W3C traceparent of the request that wrote the event, when it was traced: the
        # relay's publish continues that trace (blog.tracing.messages).
        sa.Column("traceparent", sa.Text, nullable=True),
    )


# Columns added since a service's tables were first created (CREATE TABLE IF NOT EXISTS leaves
# an existing table as it is): applied at every start, each idempotent.
UPGRADES: dict[str, tuple[str, ...]] = {
    "posts": ("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text",),
    "comments": ("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text",),
    "moderation": ("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text",),
    "query": (),
}


def _processed(metadata: sa.MetaData) -> sa.Table:
    """Events a consumer has applied, recorded in the transaction of the effect (idempotency)."""
    return sa.Table(
        "processed_events",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("processed_at", TS, nullable=False, server_default=sa.func.now()),
    )


posts_metadata = sa.MetaData()
posts_outbox = _outbox(posts_metadata)

comments_metadata = sa.MetaData()
comments_outbox = _outbox(comments_metadata)
comments_processed = _processed(comments_metadata)
known_posts = sa.Table(
    "known_posts",  # posts this service has heard of (from PostCreated)
    comments_metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
)
held_comments = sa.Table(
    # Comments stored PENDING on a post not known yet, under the `accept` policy: announced when
    # the post becomes known, REJECTED ("unknown post") once `until` has passed.
    "held_comments",
    comments_metadata,
    sa.Column("comment_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("post_id", UUID(as_uuid=False), nullable=False, index=True),
    sa.Column("until", TS, nullable=False, index=True),
)

moderation_metadata = sa.MetaData()
moderation_outbox = _outbox(moderation_metadata)
moderation_processed = _processed(moderation_metadata)

query_metadata = sa.MetaData()
query_processed = _processed(query_metadata)
post_views = post_table("post_views", query_metadata, with_request_id=False)
comment_views = comment_table("comment_views", query_metadata, with_request_id=False)

# Per service: its async-only tables, its outbox (if it publishes), its processed events (if it
# consumes).
TABLES: dict[str, sa.MetaData] = {
    "posts": posts_metadata,
    "comments": comments_metadata,
    "moderation": moderation_metadata,
    "query": query_metadata,
}
OUTBOX = "outbox"
PROCESSED = "processed_events"
READ_MODEL = (post_views.name, comment_views.name, query_processed.name)
