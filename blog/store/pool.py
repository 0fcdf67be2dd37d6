"""One service's own database: an asyncpg pool, the unit of work, and outages as Unavailable.

The tables are declared with SQLAlchemy (lab.store.schema) and their DDL is generated from those
declarations. The hot paths, though, run hand-written SQL on a plain asyncpg pool. Measured on
this machine with `python -m benchmarks.floor.db_overhead` (2 cores, PostgreSQL 15 on loopback;
ms per call, two runs): SELECT 1 costs 0.36-1.07 through SQLAlchemy Core on the async engine and
0.06-0.15 on asyncpg; a one-row INSERT 0.79-0.86 vs 0.33-0.42; a transaction of two INSERTs
1.19-1.63 vs 0.75-0.84. Those fractions of a millisecond are most of what a request costs here,
in both implementations, so they would drown the difference the lab exists to measure.

The unit of work is chosen by the caller: a single statement runs on the Database itself (a
pooled connection for that statement, autocommitted: one INSERT, or one INSERT ... WITH ..., is
atomic by itself, without BEGIN and COMMIT round trips); several statements that must commit
together run on the connection of `transaction()`. Repositories take either (an `Executor`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from blog.domain import Unavailable
from blog.tracing import STATE as TRACING
from blog.tracing.statements import TracedConnection, connection_waited


class Executor(Protocol):
    """Where a repository's statements run: the Database (one pooled connection per statement,
    autocommit) or a connection the caller holds (e.g. inside its transaction)."""

    async def execute(self, query: str, *args: Any) -> str: ...

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...


_CONNECTIVITY_ERRORS = (
    OSError,  # includes ConnectionRefusedError and ConnectionResetError
    TimeoutError,  # connect timeout, pool acquire timeout, command timeout
    asyncpg.PostgresConnectionError,  # e.g. ConnectionDoesNotExistError
    # Class 57: admin shutdown, crash shutdown (a backend told that another process crashed or
    # the postmaster died), cannot connect now (starting up or in recovery).
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # e.g. "connection is closed"
    asyncpg.exceptions.InternalClientError,  # a connection left broken by a dead server
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
    """One service's database: an asyncpg pool; an outage surfaces as Unavailable naming it."""

    def __init__(self, service: str, dsn: str, *, pool_size: int = 10, timeout_s: float = 2.0):
        self.name = f"{service} database"
        self.service = service
        self.dsn = dsn
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
        """A pooled connection held by the caller; each statement commits by itself."""
        try:
            # Traced: a long wait for a free connection and each statement are spans
            # (blog.tracing.statements); else the bare connection.
            asked_ns = time.time_ns() if TRACING.on else 0
            conn = await self.pool.acquire(timeout=self.timeout_s)
            if asked_ns:
                connection_waited(self.service, asked_ns)
            try:
                if TRACING.on:
                    yield cast(asyncpg.Connection, TracedConnection(conn, self.service))
                else:
                    yield conn
            except asyncpg.exceptions.InternalClientError:
                # Its protocol state is broken ("cannot switch to state ...; another
                # operation is in progress": seen right after the server was killed, since
                # the pool skips the reset that would have found out): never reuse it.
                conn.terminate()
                raise
            finally:
                await self.pool.release(conn)
        except Exception as error:
            if is_connectivity_error(error):
                raise Unavailable(self.name, _short(error)) from error
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, committed when the block ends normally."""
        async with self.connect() as conn, conn.transaction():
            yield conn

    # -- Executor: one statement on a connection of its own ---------------------------------
    async def execute(self, query: str, *args: Any) -> str:
        async with self.connect() as conn:
            return str(await conn.execute(query, *args))

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.connect() as conn:
            return list(await conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchval(query, *args)

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
