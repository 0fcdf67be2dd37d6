"""What an experiment finds in the stack afterwards: the writes in each owner's database and in
the query view (for the audit), and when the async read model converged again."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc

from blog.v1 import api_pb2
from lab.chaos.probes import FLUSH_S
from lab.chaos.records import RequestRecord, read_request_log
from lab.stack.client import BlogClient
from lab.stack.stackfile import StackInfo

FINAL = (int(api_pb2.APPROVED), int(api_pb2.REJECTED))


@dataclass
class Found:
    """Rows created since the load started: per owner table, request_id -> ids (a list, so a
    duplicate shows; '' for rows without a request id), and the ids the view holds."""

    posts: dict[str, list[str]] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    comment_status: dict[str, int] = field(default_factory=dict)  # owner's status per id
    view_posts: set[str] = field(default_factory=set)
    view_comments: dict[str, int] = field(default_factory=dict)  # id -> status in the view


async def _fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _by_request(rows: Sequence[asyncpg.Record]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["request_id"] or ""), []).append(str(row["id"]))
    return found


def find(stack: StackInfo, since: float, records: Sequence[RequestRecord]) -> Found:
    """Read every owner's rows created since `since` (epoch seconds), and the view."""
    start = datetime.fromtimestamp(since, UTC)
    dbs = stack["databases"]

    async def owners() -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        posts = await _fetch(
            dbs["posts"]["dsn"], "SELECT request_id, id FROM posts WHERE created_at >= $1", start
        )
        comments = await _fetch(
            dbs["comments"]["dsn"],
            "SELECT request_id, id, status FROM comments WHERE created_at >= $1",
            start,
        )
        return posts, comments

    posts, comments = asyncio.run(owners())
    found = Found(
        posts=_by_request(posts),
        comments=_by_request(comments),
        comment_status={str(r["id"]): int(r["status"]) for r in comments},
    )
    post_ids = sorted({i for ids in found.posts.values() for i in ids})
    comment_ids = sorted(found.comment_status)
    found.view_posts, found.view_comments = view(stack, post_ids, comment_ids, records)
    return found


def view(
    stack: StackInfo,
    post_ids: list[str],
    comment_ids: list[str],
    records: Sequence[RequestRecord],
) -> tuple[set[str], dict[str, int]]:
    """What the query view holds of these posts and comments. Async: its own read model. Sync:
    it has none, so ask it through the public API (it reads the owners)."""
    if "query" in stack["databases"]:
        dsn = stack["databases"]["query"]["dsn"]

        async def read() -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
            posts = await _fetch(dsn, "SELECT id FROM post_views WHERE id = ANY($1)", post_ids)
            comments = await _fetch(
                dsn, "SELECT id, status FROM comment_views WHERE id = ANY($1)", comment_ids
            )
            return posts, comments

        posts, comments = asyncio.run(read())
        return {str(r["id"]) for r in posts}, {str(r["id"]): int(r["status"]) for r in comments}
    # Sync: every post written, and every post commented on, through GetPostView.
    wanted = set(post_ids) | {r.post_id for r in records if r.op == "CreateComment" and r.post_id}
    client = BlogClient.from_stack(stack)
    seen_posts: set[str] = set()
    seen_comments: dict[str, int] = {}
    try:
        for post_id in sorted(wanted):
            try:
                reply = client.query.GetPostView(
                    api_pb2.GetPostViewRequest(post_id=post_id), timeout=5
                )
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    continue
                raise
            seen_posts.add(reply.post.id)
            seen_comments.update({c.id: int(c.status) for c in reply.comments})
    finally:
        client.close()
    return seen_posts, seen_comments


class ConvergenceWatch:
    """Async: from the restore on, poll until every write acknowledged before the restore is in
    the read model, each comment with its owner's final status. `converged_at` is the first poll
    (every 0.1 s) at which that held: epoch seconds, or None."""

    def __init__(
        self,
        stack: StackInfo,
        request_log: Path,
        restored_at: Callable[[], float | None],
        timeout_s: float,
    ) -> None:
        self.stack = stack
        self.request_log = request_log
        self.restored_at = restored_at
        self.timeout_s = timeout_s
        self.converged_at: float | None = None
        self.error: str | None = None
        self._acked: tuple[list[str], list[str]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="convergence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._watch())
        except Exception as error:  # reported in the results, never a crash of the run
            self.error = f"{type(error).__name__}: {error}"

    async def _watch(self) -> None:
        while (restored := self.restored_at()) is None:
            if self._stop.wait(0.05):
                return
        deadline = time.time() + self.timeout_s
        owners = await asyncpg.connect(self.stack["databases"]["comments"]["dsn"], timeout=5)
        query = await asyncpg.connect(self.stack["databases"]["query"]["dsn"], timeout=5)
        try:
            while not self._stop.is_set() and time.time() < deadline:
                now = time.time()
                if await self._converged(restored, owners, query):
                    self.converged_at = now
                    return
                await asyncio.sleep(0.1)
        finally:
            await owners.close()
            await query.close()

    def _acknowledged_before(self, restored: float) -> tuple[list[str], list[str]]:
        """Ids of the posts and comments acknowledged before the restore. The log is read
        again only until it is known to hold every such write (FLUSH_S after the restore)."""
        if self._acked is not None:
            return self._acked
        acked = [
            r
            for r in read_request_log(self.request_log.glob("requests-*.jsonl"))
            if r.ok and r.id and r.end <= restored
        ]
        found = (
            [r.id for r in acked if r.op == "CreatePost"],
            [r.id for r in acked if r.op == "CreateComment"],
        )
        if time.time() >= restored + FLUSH_S:
            self._acked = found
        return found

    async def _converged(
        self, restored: float, owners: asyncpg.Connection, query: asyncpg.Connection
    ) -> bool:
        posts, comments = self._acknowledged_before(restored)
        shown = await query.fetch("SELECT id FROM post_views WHERE id = ANY($1)", posts)
        if len(shown) < len(set(posts)):
            return False
        owned = await owners.fetch("SELECT id, status FROM comments WHERE id = ANY($1)", comments)
        copies = await query.fetch(
            "SELECT id, status FROM comment_views WHERE id = ANY($1)", comments
        )
        owner_status = {str(r["id"]): int(r["status"]) for r in owned}
        view_status = {str(r["id"]): int(r["status"]) for r in copies}
        return all(
            owner_status.get(i) in FINAL and view_status.get(i) == owner_status[i]
            for i in set(comments)
        )
