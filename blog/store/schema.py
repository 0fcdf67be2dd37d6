"""Each data owner's tables, declared with SQLAlchemy; their DDL is generated from these
declarations (the hot paths run hand-written SQL on asyncpg: see lab.store.pool)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

TS = sa.DateTime(timezone=True)


def post_table(name: str, metadata: sa.MetaData, *, with_request_id: bool) -> sa.Table:
    """Posts as their owner keeps them (with the idempotency key) or as a copy (a read model)."""
    extra = [sa.Column("request_id", UUID(as_uuid=False), unique=True)] if with_request_id else []
    return sa.Table(
        name,
        metadata,
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        *extra,
        # Keyset pagination walks posts newest first.
        sa.Index(f"{name}_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
    )


def comment_table(name: str, metadata: sa.MetaData, *, with_request_id: bool) -> sa.Table:
    """Comments as their owner keeps them, or as a copy. No foreign key to the posts: in the
    async copies events may arrive in any order."""
    extra = [sa.Column("request_id", UUID(as_uuid=False), unique=True)] if with_request_id else []
    return sa.Table(
        name,
        metadata,
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("post_id", UUID(as_uuid=False), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        *extra,
        sa.Index(f"{name}_post_id_created_at", "post_id", "created_at", "id"),
    )


posts_metadata = sa.MetaData()
posts = post_table("posts", posts_metadata, with_request_id=True)

comments_metadata = sa.MetaData()
comments = comment_table("comments", comments_metadata, with_request_id=True)

moderation_metadata = sa.MetaData()
decisions = sa.Table(
    "decisions",  # the moderation service's audit log, one decision per comment
    moderation_metadata,
    sa.Column("comment_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("post_id", UUID(as_uuid=False), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_at", TS, nullable=False),
)

# The tables each service owns in both implementations (the sync query service owns none).
SCHEMAS: dict[str, sa.MetaData] = {
    "posts": posts_metadata,
    "comments": comments_metadata,
    "moderation": moderation_metadata,
    "query": sa.MetaData(),
}
