"""The blog's use cases, shared by both implementations: plain functions of ports.

They know nothing of gRPC, NATS or transactions: the caller builds the repositories on the unit
of work it owns (the Database for one statement, or a connection inside its transaction, as the
async consumers do) and plugs in its adapters for the ports (lab.ports).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from blog.domain import (
    CAUSALITY_ACCEPT_S,
    CAUSALITY_WAIT_S,
    CausalityPolicy,
    Comment,
    CommentStatus,
    ConsistencyToken,
    Decision,
    Moderator,
    NewComment,
    NewPost,
    NotFound,
    Post,
    PostView,
    oldest_first,
    validate_uuid,
)
from blog.paging import PageRequest
from blog.ports import (
    CommentReader,
    CommentStore,
    DecisionLog,
    HeldComments,
    HoldingCommentStore,
    ModerationPort,
    PostArrivals,
    PostDirectory,
    PostReader,
    PostStore,
    PostViewReader,
)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


# --- posts -----------------------------------------------------------------------------------
async def create_post(posts: PostStore, new: NewPost) -> tuple[Post, bool]:
    """Store a new post (idempotent per request_id). Returns it, and whether it is new."""
    return await posts.add(Post(new_id(), new.title, new.body, now()), new.request_id)


async def get_post(posts: PostReader, post_id: str) -> Post:
    post_id = validate_uuid("id", post_id)
    post = await posts.get(post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post


async def list_posts(posts: PostReader, page: PageRequest) -> tuple[list[Post], str]:
    return await posts.list_page(page)


# --- comments and moderation -----------------------------------------------------------------
async def create_comment(
    comments: CommentStore,
    new: NewComment,
    moderation: ModerationPort,
    posts: PostDirectory | None = None,
) -> tuple[Comment, bool]:
    """The comment rule: a comment is stored only on a post that exists, with the status
    moderation gives it (final in sync, PENDING in async), idempotently per request_id.

    Whether the post exists is asked of `posts` (sync: the posts service), or, when `posts` is
    None, enforced by the store in the insert itself (async: the posts this service has heard
    of; one statement, no race). Returns the comment and whether it is new.
    """
    comment_id = new_id()
    if posts is None:
        decision = await moderation.moderate(comment_id, new.post_id, new.content)
    else:
        # Independent questions across the network: ask them concurrently, so the request pays
        # one hop, not two. A TaskGroup cancels the other as soon as one fails.
        async with asyncio.TaskGroup() as group:
            exists = group.create_task(posts.exists(new.post_id))
            asked = group.create_task(moderation.moderate(comment_id, new.post_id, new.content))
        if not exists.result():
            raise NotFound(f"post {new.post_id} not found")
        decision = asked.result()
    comment = Comment(comment_id, new.post_id, new.content, decision.status, now())
    stored, inserted = await comments.add(comment, new.request_id)
    if stored is None:
        raise NotFound(f"post {new.post_id} not found")
    return stored, inserted


# --- causality across services (async; docs/METHOD.md, Causality across services) ---------
@dataclass(frozen=True)
class Causality:
    """How CreateComment treats a post this service has not heard of: the policy, its bounds,
    and (for `wait`) how to wait until a post becomes known."""

    policy: CausalityPolicy
    wait_s: float = CAUSALITY_WAIT_S  # wait: the longest a comment with a token waits
    accept_s: float = CAUSALITY_ACCEPT_S  # accept: the longest a comment is held for its post
    arrivals: PostArrivals | None = None  # wait: required


@dataclass(frozen=True, slots=True)
class CausalOutcome:
    """What create_comment_causally did beside storing the comment (for the counters)."""

    waited_s: float | None = None  # wait: how long it waited for the post (None: no wait)
    held: bool = False  # accept: stored, held until its post is known


async def create_comment_causally(
    comments: HoldingCommentStore,
    new: NewComment,
    moderation: ModerationPort,
    causality: Causality,
    token: ConsistencyToken | None,
    time_left_s: float | None = None,
) -> tuple[Comment, bool, CausalOutcome]:
    """The comment rule of a service that learns of posts by events (async), under a policy:

    - every policy first tries the plain rule (one statement; a known post never waits);
    - refuse: an unknown post is NotFound at once;
    - wait: with a token, wait (at most `wait_s`, and never past `time_left_s`, the caller's
      deadline) until the post the token names is known, then try once more; without a
      token, NotFound at once (a post that never existed is refused immediately);
    - accept: store the comment PENDING and hold it (see HoldingCommentStore); it is REJECTED
      ("unknown post") if its post is not known within `accept_s` (reject_expired_comments).
    """
    try:
        comment, inserted = await create_comment(comments, new, moderation)
        return comment, inserted, CausalOutcome()
    except NotFound:
        if causality.policy is CausalityPolicy.ACCEPT:
            comment_id = new_id()
            decision = await moderation.moderate(comment_id, new.post_id, new.content)
            held = Comment(comment_id, new.post_id, new.content, decision.status, now())
            until = now() + timedelta(seconds=causality.accept_s)
            comment, inserted = await comments.add_or_hold(held, new.request_id, until)
            return comment, inserted, CausalOutcome(held=inserted)
        if causality.policy is not CausalityPolicy.WAIT or token is None:
            raise
        assert causality.arrivals is not None, "the wait policy needs PostArrivals"
    bound = causality.wait_s if time_left_s is None else min(causality.wait_s, time_left_s)
    started = asyncio.get_running_loop().time()
    await causality.arrivals.wait_known(token.post_id, max(0.0, bound))
    waited = asyncio.get_running_loop().time() - started
    comment, inserted = await create_comment(comments, new, moderation)  # NotFound if still not
    return comment, inserted, CausalOutcome(waited_s=waited)


async def post_became_known(held: HeldComments, post_id: str) -> list[Comment]:
    """A post is known now: the comments held for it proceed (they are announced as new)."""
    return await held.release(post_id)


async def reject_expired_comments(held: HeldComments, at: datetime) -> list[Comment]:
    """Comments held past their bound end REJECTED (reason domain.UNKNOWN_POST_REASON): a
    final state, announced like any other, never dropped."""
    return await held.expire(at, CommentStatus.REJECTED)


async def list_comments(comments: CommentReader, post_ids: Sequence[str]) -> list[Comment]:
    """Comments of the given posts (oldest first per post); ids are validated here."""
    field = "post_ids" if len(post_ids) > 1 else "post_id"
    return oldest_first(await comments.list_for_posts([validate_uuid(field, i) for i in post_ids]))


async def moderate(
    decisions: DecisionLog, moderator: Moderator, comment_id: str, post_id: str, content: str
) -> Decision:
    """The moderation rule, applied and recorded (the first decision per comment wins)."""
    comment_id = validate_uuid("comment_id", comment_id)
    post_id = validate_uuid("post_id", post_id)
    return await decisions.record(comment_id, post_id, moderator.decide(content), now())


async def settle_comment(
    comments: CommentStore, comment_id: str, status: CommentStatus
) -> tuple[Comment | None, bool]:
    """Give a PENDING comment the final status moderation decided (async). Returns the comment
    (None when unknown) and whether its status changed."""
    return await comments.settle(comment_id, status)


# --- views -----------------------------------------------------------------------------------
async def get_post_view(views: PostViewReader, post_id: str) -> PostView:
    """A post and its comments."""
    post_id = validate_uuid("post_id", post_id)
    view = await views.view(post_id)
    if view is None:
        raise NotFound(f"post {post_id} not found")
    return view


async def list_post_views(views: PostViewReader, page: PageRequest) -> tuple[list[PostView], str]:
    """A page of posts (newest first) with their comments."""
    return await views.view_page(page)
