"""Knobs of the noise study (docs/METHOD.md, Noise): one variable each, every default the stack
as it always runs. StackOptions carries them (`noise`); the runner hands each to the part that
reads it: PostgreSQL's settings, the services' LAB_* environment."""

from __future__ import annotations

from dataclasses import dataclass

# Always on: what the noise study reads about PostgreSQL, at no cost worth naming. Every
# checkpoint in the server's log (with why it started and how long its write and sync took),
# and the time WAL writes and fsyncs take in pg_stat_wal (pg_stat_io from PostgreSQL 18): two
# clock reads per WAL write, a few tens of nanoseconds each on this machine's TSC clock.
INSTRUMENTATION: dict[str, str] = {"log_checkpoints": "on", "track_wal_io_timing": "on"}


@dataclass(frozen=True)
class NoiseKnobs:
    """What a variant of the noise study changes in a stack; all off by default."""

    # Diagnosis only (it changes durability): commits return before their WAL is on disk, so
    # a crash of the machine may lose the last acknowledged writes.
    synchronous_commit_off: bool = False
    # Diagnosis only (it changes durability): the async event store in nats-server's memory
    # (LAB_BUS_MEMORY_STORAGE), lost with nats-server.
    bus_memory_storage: bool = False
    # gc.freeze() in every service once it has started (LAB_GC_FREEZE): what start-up
    # allocated is never scanned again by the cyclic garbage collector.
    gc_freeze: bool = False

    def postgres_settings(self) -> dict[str, str]:
        """The `-c name=value` settings every PostgreSQL server of the stack starts with."""
        settings = dict(INSTRUMENTATION)
        if self.synchronous_commit_off:
            settings["synchronous_commit"] = "off"
        return settings

    def service_env(self) -> dict[str, str]:
        """The LAB_* settings every service process gets (blog/rpc/settings.py)."""
        env = {}
        if self.bus_memory_storage:
            env["LAB_BUS_MEMORY_STORAGE"] = "1"
        if self.gc_freeze:
            env["LAB_GC_FREEZE"] = "1"
        return env
