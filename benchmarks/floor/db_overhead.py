"""Measure what SQLAlchemy Core on the async engine adds over plain asyncpg, per statement, on a
PostgreSQL server the lab starts (the figures quoted in lab/db.py come from this script).

Usage: python -m benchmarks.floor.db_overhead [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from lab.stack.net import free_port
from lab.stack.postgres import PostgresServer


async def per_call_ms(n: int, call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(max(20, n // 20)):
        await call()
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n * 1000


async def measure(dsn: str, n: int) -> None:
    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
    raw = await asyncpg.connect(dsn)
    await raw.execute("CREATE TABLE IF NOT EXISTS overhead (id bigserial PRIMARY KEY, v text)")

    async def sa_select() -> None:
        async with engine.connect() as c:
            await c.execute(sa.text("SELECT 1"))

    async def sa_insert() -> None:
        async with engine.connect() as c:
            await c.execution_options(isolation_level="AUTOCOMMIT")
            await c.execute(sa.text("INSERT INTO overhead (v) VALUES ('x')"))

    async def sa_tx() -> None:
        async with engine.begin() as c:
            await c.execute(sa.text("INSERT INTO overhead (v) VALUES ('x')"))
            await c.execute(sa.text("INSERT INTO overhead (v) VALUES ('y')"))

    async def raw_tx() -> None:
        async with raw.transaction():
            await raw.execute("INSERT INTO overhead (v) VALUES ('x')")
            await raw.execute("INSERT INTO overhead (v) VALUES ('y')")

    rows = [
        ("SELECT 1", sa_select, lambda: raw.fetchval("SELECT 1")),
        ("one-row INSERT", sa_insert, lambda: raw.execute("INSERT INTO overhead VALUES (DEFAULT)")),
        ("transaction of two INSERTs", sa_tx, raw_tx),
    ]
    print(f"{'statement':28} {'SQLAlchemy Core':>16} {'asyncpg':>9}  (ms per call, n={n})")
    for label, with_sa, with_raw in rows:
        via_sa, via_raw = await per_call_ms(n, with_sa), await per_call_ms(n, with_raw)
        print(f"{label:28} {via_sa:16.3f} {via_raw:9.3f}")
    await raw.close()
    await engine.dispose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="lab-overhead-") as tmp:
        server = PostgresServer("overhead", Path(tmp) / "pg", free_port(), Path(tmp) / "logs")
        server.start()
        try:
            asyncio.run(measure(server.database.dsn, n))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
