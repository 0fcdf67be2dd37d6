"""Database per service: each data owner's schema (SQLAlchemy tables) and its connection pool.

The tables are declared with SQLAlchemy and their DDL is generated from those declarations. The
hot paths, though, run hand-written SQL on a plain asyncpg pool. Measured on this machine with
`python -m benchmarks.db_overhead` (2 cores, PostgreSQL 15 on loopback; ms per call, two runs):
SELECT 1 costs 0.36-1.07 through SQLAlchemy Core on the async engine and 0.06-0.15 on asyncpg;
a one-row INSERT 0.79-0.86 vs 0.33-0.42; a transaction of two INSERTs 1.19-1.63 vs 0.75-0.84.
Those fractions of a millisecond are most of what a request costs here, in both
implementations, so they would drown the difference the lab exists to measure.

Single statements run outside explicit transactions (asyncpg autocommits them): one INSERT or
one INSERT ... WITH ... is atomic by itself, without BEGIN and COMMIT round trips.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.schema import CreateIndex, CreateTable

from lab.domain import Unavailable

TS = sa.DateTime(timezone=True)

# --- posts service ---------------------------------------------------------------------------
posts_metadata = sa.MetaData()
posts = sa.Table(
    "posts",
    posts_metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("request_id", UUID(as_uuid=False), unique=True, nullable=True),
    # Keyset pagination walks posts newest first.
    sa.Index("posts_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
)

# --- comments service ------------------------------------------------------------------------
comments_metadata = sa.MetaData()
comments = sa.Table(
    "comments",
    comments_metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("post_id", UUID(as_uuid=False), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("request_id", UUID(as_uuid=False), unique=True, nullable=True),
    sa.Index("comments_post_id_created_at", "post_id", "created_at", "id"),
)

# --- moderation service ----------------------------------------------------------------------
moderation_metadata = sa.MetaData()
decisions = sa.Table(
    "decisions",
    moderation_metadata,
    sa.Column("comment_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("post_id", UUID(as_uuid=False), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_at", TS, nullable=False),
)

SCHEMAS: dict[str, sa.MetaData] = {
    "posts": posts_metadata,
    "comments": comments_metadata,
    "moderation": moderation_metadata,
    "query": sa.MetaData(),  # sync query owns no data
}


# --- tables of the asynchronous implementation -----------------------------------------------
def _outbox(metadata: sa.MetaData) -> sa.Table:
    """Events written in the same transaction as the change they describe; a relay publishes
    them to JetStream and deletes them once the stream acknowledged them."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )


def _processed(metadata: sa.MetaData) -> sa.Table:
    """Events a consumer has applied, recorded in the transaction of the effect (idempotency)."""
    return sa.Table(
        "processed_events",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("processed_at", TS, nullable=False, server_default=sa.func.now()),
    )


posts_events_metadata = sa.MetaData()
posts_outbox = _outbox(posts_events_metadata)

comments_events_metadata = sa.MetaData()
comments_outbox = _outbox(comments_events_metadata)
comments_processed = _processed(comments_events_metadata)
known_posts = sa.Table(
    "known_posts",  # posts this service has heard of (from PostCreated)
    comments_events_metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
)

moderation_events_metadata = sa.MetaData()
moderation_outbox = _outbox(moderation_events_metadata)
moderation_processed = _processed(moderation_events_metadata)

query_events_metadata = sa.MetaData()
query_processed = _processed(query_events_metadata)
post_views = sa.Table(
    "post_views",
    query_events_metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Index("post_views_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
)
comment_views = sa.Table(
    "comment_views",
    query_events_metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column(
        "post_id", UUID(as_uuid=False), nullable=False
    ),  # no FK: events may come in any order
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Index("comment_views_post_id_created_at", "post_id", "created_at", "id"),
)

EVENT_SCHEMAS: dict[str, sa.MetaData] = {
    "posts": posts_events_metadata,
    "comments": comments_events_metadata,
    "moderation": moderation_events_metadata,
    "query": query_events_metadata,
}
OUTBOXES: dict[str, sa.Table] = {
    "posts": posts_outbox,
    "comments": comments_outbox,
    "moderation": moderation_outbox,
}
PROCESSED: dict[str, sa.Table] = {
    "comments": comments_processed,
    "moderation": moderation_processed,
    "query": query_processed,
}


_CONNECTIVITY_ERRORS = (
    OSError,  # includes ConnectionRefusedError and ConnectionResetError
    TimeoutError,  # connect timeout, pool acquire timeout, command timeout
    asyncpg.PostgresConnectionError,  # e.g. ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,  # starting up or in recovery
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # e.g. "connection is closed"
)


def is_connectivity_error(error: BaseException) -> bool:
    """True when an error means 'the database cannot be reached', not 'the statement is wrong'."""
    return isinstance(error, _CONNECTIVITY_ERRORS)


async def _text_uuids(conn: asyncpg.Connection) -> None:
    # Ids are strings everywhere in the lab (as in the protos): decode uuid columns to str.
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """asyncpg resets every connection on release (RESET ALL, UNLISTEN, ...: a round trip per
    checkout). Nothing here leaves session state behind, so the reset is skipped."""


class Database:
    """One service's database: an asyncpg pool, and the translation of outages to Unavailable."""

    def __init__(self, service: str, dsn: str, *, pool_size: int = 10, timeout_s: float = 2.0):
        self.name = f"{service} database"
        self.service = service
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://")
        self.pool_size = pool_size
        self.timeout_s = timeout_s
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                init=_text_uuids,
                reset=_keep_session,
                # asyncpg waits 60 s for a connection by default: far past any RPC deadline.
                timeout=self.timeout_s,
                command_timeout=self.timeout_s * 2,
                server_settings={"application_name": self.service},
            )
        except Exception as error:
            if is_connectivity_error(error):
                raise Unavailable(self.name, _short(error)) from error
            raise

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: open() first")
        return self._pool

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; each statement commits by itself."""
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as conn:
                yield conn
        except Exception as error:
            if is_connectivity_error(error):
                raise Unavailable(self.name, _short(error)) from error
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, committed when the block ends normally."""
        async with self.connect() as conn, conn.transaction():
            yield conn

    async def create_schema(self, metadata: sa.MetaData) -> None:
        """CREATE TABLE/INDEX IF NOT EXISTS for every table of `metadata` (idempotent)."""
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        statements = []
        for table in metadata.sorted_tables:
            statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
            for index in table.indexes:
                ddl = CreateIndex(index, if_not_exists=True).compile(dialect=dialect)
                statements.append(str(ddl))
        async with self.transaction() as conn:
            # Replicas start together: serialise their DDL (else: duplicate pg_type errors).
            await conn.execute("SELECT pg_advisory_xact_lock(727274)")
            for statement in statements:
                await conn.execute(statement)

    async def dispose(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]
