"""Views of posts with their comments, each read in one statement from tables that hold both (the
async query's read model).

A view read as two statements (the post, then its comments) costs two round trips, two
statements to plan and run and two result sets to decode: in the full run 20261125T185059Z,
before this reader, the async query service ran 1.95 database statements per operation of
read_heavy at 50/s (docs/METHOD.md, Where the time goes). A LEFT JOIN returns the post once per
comment (or once, with empty comment columns, when it has none); posts here are short, so the
repeated columns cost less than the second round trip they save.
"""

from __future__ import annotations

from typing import Any

from blog.domain import Comment, CommentStatus, Post, PostView, post_views
from blog.paging import PageRequest, cut_page
from blog.store.pool import Executor
from blog.store.repositories import newest_first

_POSTS = "id, title, body, created_at"
_POST = "p.id, p.title, p.body, p.created_at"
_COMMENT = "c.id AS c_id, c.content AS c_content, c.status AS c_status, c.created_at AS c_at"


class PostViewRepository:
    """Posts and their comments from two tables of one database, joined in the statement."""

    def __init__(self, db: Executor, posts_table: str, comments_table: str) -> None:
        self.db = db
        self.posts = posts_table
        self.comments = comments_table

    def _joined(self, page_of_posts: str) -> str:
        # Posts newest first (the page's order); their comments' order is the domain's.
        return (
            f"SELECT {_POST}, {_COMMENT} FROM ({page_of_posts}) p "
            f"LEFT JOIN {self.comments} c ON c.post_id = p.id "
            "ORDER BY p.created_at DESC, p.id DESC"
        )

    async def view(self, post_id: str) -> PostView | None:
        """The post and its comments; None when the post is unknown."""
        rows = await self.db.fetch(
            self._joined(f"SELECT {_POSTS} FROM {self.posts} WHERE id = $1"), post_id
        )
        views = _views(rows)
        return views[0] if views else None

    async def view_page(self, page: PageRequest) -> tuple[list[PostView], str]:
        """Posts newest first with their comments, and the next page's token ('' if last)."""
        posts, args = newest_first(f"SELECT {_POSTS} FROM {self.posts}", page)
        rows = await self.db.fetch(self._joined(posts), *args)
        return cut_page(_views(rows), page.size, lambda v: (v.post.created_at, v.post.id))


def _views(rows: list[Any]) -> list[PostView]:
    """Joined rows (a post once per comment, or once alone) -> one view per post, in the rows'
    order of posts."""
    posts: dict[str, Post] = {}
    comments: list[Comment] = []
    for row in rows:
        if row["id"] not in posts:
            posts[row["id"]] = Post(row["id"], row["title"], row["body"], row["created_at"])
        if row["c_id"] is not None:
            status = CommentStatus(row["c_status"])
            comments.append(Comment(row["c_id"], row["id"], row["c_content"], status, row["c_at"]))
    return post_views(list(posts.values()), comments)
