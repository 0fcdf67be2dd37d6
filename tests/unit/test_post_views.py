"""blog.store.views: joined rows -> views, and the page token (pure logic, on canned rows; the
SQL itself runs against real PostgreSQL in the contract suite's view tests)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from blog.domain import CommentStatus
from blog.paging import PageRequest, decode_token
from blog.store.views import PostViewRepository

T0 = datetime(2026, 1, 1, tzinfo=UTC)
P1, P2, P3 = (f"00000000-0000-0000-0000-00000000000{i}" for i in (1, 2, 3))
C1, C2 = (f"00000000-0000-0000-0000-0000000000c{i}" for i in (1, 2))


def row(post: str, minute: int, comment: str | None = None, status: int = 1) -> dict[str, Any]:
    return {
        "id": post,
        "title": f"t{post[-1]}",
        "body": "b",
        "created_at": T0 + timedelta(minutes=minute),
        "c_id": comment,
        "c_content": "c" if comment else None,
        "c_status": status if comment else None,
        "c_at": T0 + timedelta(minutes=minute, seconds=1) if comment else None,
    }


class CannedRows:
    """An Executor that answers every fetch with the same rows and records the statements."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.calls.append((query, args))
        return self.rows

    async def execute(self, query: str, *args: Any) -> str:
        raise AssertionError("a view never writes")

    async def fetchrow(self, query: str, *args: Any) -> Any:
        raise AssertionError("a view is one fetch")

    async def fetchval(self, query: str, *args: Any) -> Any:
        raise AssertionError("a view is one fetch")


def test_a_view_groups_comments_under_their_post_in_one_statement() -> None:
    db = CannedRows([row(P1, 3, C1, 1), row(P1, 3, C2, 2)])
    view = asyncio.run(PostViewRepository(db, "post_views", "comment_views").view(P1))
    assert view is not None
    post, comments = view.post, list(view.comments)
    assert post.id == P1 and [c.id for c in comments] == [C1, C2]
    assert [c.status for c in comments] == [CommentStatus(1), CommentStatus(2)]
    assert all(c.post_id == P1 for c in comments)
    assert len(db.calls) == 1 and "LEFT JOIN comment_views" in db.calls[0][0]


def test_a_post_without_comments_is_a_view_with_none_and_an_unknown_post_is_none() -> None:
    views = PostViewRepository(CannedRows([row(P1, 3)]), "post_views", "comment_views")
    assert asyncio.run(views.view(P1)) is not None
    assert asyncio.run(views.view(P1)).comments == ()  # type: ignore[union-attr]
    empty = PostViewRepository(CannedRows([]), "post_views", "comment_views")
    assert asyncio.run(empty.view(P1)) is None


def test_a_page_asks_one_post_more_and_gives_a_token_only_when_it_came() -> None:
    rows = [row(P3, 3, C1), row(P3, 3, C2), row(P2, 2), row(P1, 1)]
    db = CannedRows(rows)
    views = PostViewRepository(db, "post_views", "comment_views")
    page, token = asyncio.run(views.view_page(PageRequest(2, None)))
    assert [v.post.id for v in page] == [P3, P2]
    assert [len(v.comments) for v in page] == [2, 0]
    assert db.calls[0][1] == (3,)  # size + 1
    assert decode_token(token) == (T0 + timedelta(minutes=2), P2)

    last, token = asyncio.run(views.view_page(PageRequest(3, (T0, P3))))
    assert [v.post.id for v in last] == [P3, P2, P1] and token == ""
    assert db.calls[1][1] == (T0, P3, 4)


def test_comments_come_oldest_first_whatever_order_the_rows_hold() -> None:
    late, early = row(P1, 3, C2), row(P1, 3, C1)
    late["c_at"], early["c_at"] = T0 + timedelta(minutes=9), T0 + timedelta(minutes=4)
    views = PostViewRepository(CannedRows([late, early]), "post_views", "comment_views")
    view = asyncio.run(views.view(P1))
    assert view is not None and [c.id for c in view.comments] == [C1, C2]
