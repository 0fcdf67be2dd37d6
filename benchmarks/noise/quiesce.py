"""Before a step: leave every database with nothing owed (docs/METHOD.md, Noise).

VACUUM (ANALYZE) of the service's tables, so autovacuum and autoanalyze find nothing to do for
a while, then CHECKPOINT, so the dirty pages of the steps before are on disk and the next timed
checkpoint is a whole checkpoint_timeout away, not somewhere inside the step. Neither changes
what a step measures (the services, their settings and their durability stay as they are); it
only stops one step from paying for the writes of the steps before it.

Run with each service's own role, from stack.json alone (so it works with --attach too): the
role owns its database and its tables, and is granted pg_checkpoint on its own server
(lab.stack.postgres; PostgreSQL 15+, on older servers the CHECKPOINT is skipped and said so).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg

from lab.stack.stackfile import StackInfo


@dataclass(frozen=True)
class Quiesced:
    """What quiesce() did, and how long it took."""

    seconds: float
    vacuumed: list[str] = field(default_factory=list)  # services
    checkpointed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _one(name: str, dsn: str, out: Quiesced) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        # Every table the role may vacuum: its own, and (as the database's owner) the
        # database's catalogs; the shared catalogs are skipped with a warning.
        await conn.execute("VACUUM (ANALYZE)")
        out.vacuumed.append(name)
        try:
            await conn.execute("CHECKPOINT")
            out.checkpointed.append(name)
        except asyncpg.InsufficientPrivilegeError as error:
            out.problems.append(f"{name}: CHECKPOINT: {error}")
    finally:
        await conn.close()


def quiesce(stack: StackInfo, timeout_s: float = 120.0) -> Quiesced:
    """VACUUM (ANALYZE) then CHECKPOINT every database of the stack, one after the other (at
    once they would compete for the same disk and cores)."""
    started = time.monotonic()
    out = Quiesced(0.0)

    async def every() -> None:
        for name, db in stack["databases"].items():
            try:
                await asyncio.wait_for(_one(name, db["dsn"], out), timeout_s)
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                out.problems.append(f"{name}: {type(error).__name__}: {error}")

    asyncio.run(every())
    return Quiesced(time.monotonic() - started, out.vacuumed, out.checkpointed, out.problems)
