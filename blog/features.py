"""The blog's use cases, shared by both implementations: plain functions of ports.

They know nothing of gRPC, NATS or transactions: the caller builds the repositories on the unit
of work it owns (the Database for one statement, or a connection inside its transaction, as the
async consumers do) and plugs in its adapters for the ports (lab.ports).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from blog.domain import (
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
    KnownPosts,
    ModerationPort,
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
class Arrivals:
    """Waiters keyed by id (a post id), woken when it arrives: a notification, never a poll.

    One per process and event loop. Whoever learns that a post became known calls
    `arrived(post_id)` (the process's own consumer after its commit, or a database
    notification from another replica's); `wake_all()` makes every waiter check again (after a
    notification may have been missed, e.g. a reconnect).
    """

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def __len__(self) -> int:
        return sum(len(events) for events in self._waiting.values())

    @contextmanager
    def expecting(self, key: str) -> Iterator[asyncio.Event]:
        """Register a waiter for `key` for the duration of the block; yields its Event."""
        event = asyncio.Event()
        self._waiting.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiting.get(key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiting[key]

    def arrived(self, key: str) -> int:
        """Wake the waiters of `key`; returns how many there were."""
        waiters = self._waiting.get(key, ())
        for event in waiters:
            event.set()
        return len(waiters)

    def wake_all(self) -> int:
        woken = 0
        for key in list(self._waiting):
            woken += self.arrived(key)
        return woken


async def wait_until_known(
    known: KnownPosts, arrivals: Arrivals, post_id: str, timeout_s: float
) -> bool:
    """Wait at most `timeout_s` until `post_id` is known; True if it is (now or in time).

    The waiter is registered before the first check, so an arrival between the check and the
    wait still wakes it; every wake-up checks the store again (a wake-up is a hint, the store
    is the truth), and so does the end of the bound (a notification lost on the way costs
    time, never a wrong answer).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with arrivals.expecting(post_id) as woken:
        while True:
            woken.clear()  # before the check: an arrival during the check must not be lost
            if await known.knows(post_id):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await woken.wait()
            except TimeoutError:
                pass


@dataclass
class Causality:
    """How CreateComment treats a post this service has not heard of: the policy, its bounds,
    and (for `wait`) where to learn that a post became known."""

    policy: CausalityPolicy = CausalityPolicy.REFUSE
    wait_s: float = 2.0  # wait: the longest a comment with a token waits for its post
    accept_s: float = 5.0  # accept: the longest a comment is held for its post
    known: KnownPosts | None = None
    arrivals: Arrivals = field(default_factory=Arrivals)


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
        assert causality.known is not None, "the wait policy needs KnownPosts"
    bound = causality.wait_s if time_left_s is None else min(causality.wait_s, time_left_s)
    started = asyncio.get_running_loop().time()
    await wait_until_known(causality.known, causality.arrivals, token.post_id, max(0.0, bound))
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
