"""A span per database statement, made by the lab around asyncpg's calls (not by the asyncpg
instrumentation: measured cheaper, and it never starts a trace of its own; docs/METHOD.md).

A statement is traced only inside a sampled request (a recording span is current): the relay's
sweeps, a consumer's probes and the pool's own housekeeping make no spans, so they neither start
traces of their own nor cost anything.
"""

from __future__ import annotations

import re
import time
from typing import Any

from opentelemetry.trace import SpanKind, get_current_span

from blog.tracing.state import STATE

SYSTEM = "postgresql"
WAIT_SPAN_NS = 100_000  # a wait for a pooled connection shorter than 0.1 ms makes no span
_WORDS = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|FROM|JOIN)\s+(\w+)", re.I)
_VERB = re.compile(r"\b(INSERT|UPDATE|DELETE|SELECT)\b", re.I)
_CTE = re.compile(r"\b(\w+)\s+AS\s*\(", re.I)  # WITH name AS (...): not a table
_NOT_TABLES = {"set", "select", "lateral", "only"}  # ON CONFLICT ... DO UPDATE SET, FROM ONLY
_SUMMARIES: dict[str, str] = {}


def summary(query: str) -> str:
    """A statement's short name, the first verb and the tables it names, e.g.
    `INSERT comments outbox` for the outbox's insert-and-queue (cached per query text)."""
    known = _SUMMARIES.get(query)
    if known is not None:
        return known
    verb = _VERB.search(query)
    tables: list[str] = []
    skip = {name.lower() for name in _CTE.findall(query)}
    for keyword, name in _WORDS.findall(query):
        if keyword.upper() != "SELECT" and name.lower() not in skip | _NOT_TABLES:
            skip.add(name.lower())
            tables.append(name.lower())
    text = " ".join([verb.group(1).upper() if verb else query.split(None, 1)[0].upper(), *tables])
    if len(_SUMMARIES) < 1_000:  # queries are constants: the cache stays small
        _SUMMARIES[query] = text
    return text


class TracedConnection:
    """An asyncpg connection whose statements are spans (when a sampled request is current);
    everything else is the connection's own."""

    __slots__ = ("_conn", "_database")

    def __init__(self, conn: Any, database: str) -> None:
        self._conn = conn
        self._database = database

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def _traced(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        call = getattr(self._conn, method)
        if not get_current_span().is_recording():
            return await call(query, *args)
        name = summary(query)
        attributes = {
            "db.system.name": SYSTEM,
            "db.namespace": self._database,
            "db.query.summary": name,
            "db.query.text": query,
        }
        with STATE.tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            return await call(query, *args)

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return await self._conn.execute(query, *args, **kwargs)
        return await self._traced("execute", query, args)

    async def fetch(self, query: str, *args: Any) -> Any:
        return await self._traced("fetch", query, args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        return await self._traced("fetchrow", query, args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._traced("fetchval", query, args)


def connection_waited(database: str, asked_ns: int) -> None:
    """A span for the wait for a free pooled connection that began at `asked_ns`, inside a
    sampled request, when it took at least WAIT_SPAN_NS: a pool too small or connections held
    long show as such rather than as a gap, and an idle pool's instant checkout costs no span
    (a span costs about as much as a statement's round trip here: docs/METHOD.md)."""
    now = time.time_ns()
    if now - asked_ns < WAIT_SPAN_NS or not get_current_span().is_recording():
        return
    span = STATE.tracer.start_span(
        "connection wait", start_time=asked_ns, attributes={"db.namespace": database}
    )
    span.end(end_time=now)
