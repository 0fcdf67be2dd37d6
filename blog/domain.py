"""Domain core shared by both implementations: entities, validation and the moderation rule."""

from __future__ import annotations

import base64
import binascii
import enum
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

TITLE_MAX = 200
BODY_MAX = 10_000
CONTENT_MAX = 2_000
DEFAULT_BLOCKLIST: tuple[str, ...] = ("orange", "spam", "scam")


class DomainError(Exception):
    """Base of the errors a client caused or must be told about; transports map them to statuses."""


class InvalidArgument(DomainError):
    """A request field is malformed; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Unavailable(DomainError):
    """A dependency (a database, another service, the bus) cannot be reached; `what` names it.

    `fail_fast`: it was not even asked (a circuit breaker open, a bulkhead full): a retry at
    once would meet the same refusal, so the client is told not to retry."""

    def __init__(self, what: str, detail: str = "", *, fail_fast: bool = False) -> None:
        super().__init__(f"{what} unavailable" + (f": {detail}" if detail else ""))
        self.what = what
        self.fail_fast = fail_fast


class DeadlineExceeded(DomainError):
    """A dependency did not answer within the deadline; `what` names it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} did not answer within the deadline")
        self.what = what


class CommentStatus(enum.IntEnum):
    """Mirrors blog.v1.CommentStatus (same numbers)."""

    UNSPECIFIED = 0
    PENDING = 1
    APPROVED = 2
    REJECTED = 3


@dataclass(frozen=True, slots=True)
class Post:
    id: str
    title: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    post_id: str
    content: str
    status: CommentStatus
    created_at: datetime


def oldest_first(comments: Iterable[Comment]) -> list[Comment]:
    """Comments in the order every answer lists them: oldest first (ties by id). The one place
    this order is decided; stores need not sort (and Timsort finds sorted input in one pass)."""
    return sorted(comments, key=lambda c: (c.created_at, c.id))


@dataclass(frozen=True, slots=True)
class PostView:
    """A post with all its comments, oldest first: what the query service answers.

    `comments_complete` False is a partial answer: the post without its comments, because they
    could not be read (sync with resilience patterns, while the comments service is
    unavailable; docs/METHOD.md, Resilience). `comments` is then empty."""

    post: Post
    comments: tuple[Comment, ...]
    comments_complete: bool = True

    @classmethod
    def without_comments(cls, post: Post) -> PostView:
        """The partial answer: the post alone, marked so."""
        return cls(post, (), comments_complete=False)


def post_views(posts: Sequence[Post], comments: Iterable[Comment]) -> list[PostView]:
    """Each post, in the order given, with those of `comments` that belong to it."""
    by_post: dict[str, list[Comment]] = {post.id: [] for post in posts}
    for comment in comments:
        by_post[comment.post_id].append(comment)
    return [PostView(post, tuple(oldest_first(by_post[post.id]))) for post in posts]


@dataclass(frozen=True, slots=True)
class Decision:
    """What moderation decided about one comment."""

    status: CommentStatus
    reason: str = ""


def validate_uuid(field: str, value: str) -> str:
    """Return the canonical form of a UUID string, or raise InvalidArgument naming `field`."""
    if not value:
        raise InvalidArgument(field, "is required")
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument(field, f"must be a UUID, got {value[:60]!r}") from None


def optional_uuid(field: str, value: str) -> str | None:
    """Like validate_uuid, but an empty value means 'not given'."""
    return validate_uuid(field, value) if value else None


def _check_length(field: str, value: str, minimum: int, maximum: int) -> str:
    if len(value) < minimum:
        raise InvalidArgument(field, "is required" if minimum == 1 else f"needs {minimum}+ chars")
    if len(value) > maximum:
        raise InvalidArgument(field, f"is {len(value)} characters; at most {maximum} allowed")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; reject it here rather than fail in the database.
        raise InvalidArgument(field, "must not contain NUL characters")
    return value


@dataclass(frozen=True, slots=True)
class NewPost:
    """A validated request to create a post."""

    title: str
    body: str
    request_id: str | None = None

    @classmethod
    def parse(cls, title: str, body: str, request_id: str = "") -> NewPost:
        title = _check_length("title", title.strip(), 1, TITLE_MAX)
        body = _check_length("body", body, 0, BODY_MAX)
        return cls(title, body, optional_uuid("request_id", request_id))


@dataclass(frozen=True, slots=True)
class NewComment:
    """A validated request to comment on a post."""

    post_id: str
    content: str
    request_id: str | None = None

    @classmethod
    def parse(cls, post_id: str, content: str, request_id: str = "") -> NewComment:
        post_id = validate_uuid("post_id", post_id)
        content = _check_length("content", content.strip(), 1, CONTENT_MAX)
        return cls(post_id, content, optional_uuid("request_id", request_id))


class Moderator:
    """The moderation rule: reject content containing a blocklisted word (whole word, any case)."""

    def __init__(self, blocklist: Iterable[str] = DEFAULT_BLOCKLIST) -> None:
        words = sorted({w.strip().lower() for w in blocklist if w.strip()})
        self.blocklist: tuple[str, ...] = tuple(words)
        # \b is Unicode-aware for str patterns, so "Orange!" matches and "oranges" does not.
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
            if words
            else None
        )

    def decide(self, content: str) -> Decision:
        match = self._pattern.search(content) if self._pattern else None
        if match:
            return Decision(CommentStatus.REJECTED, f"blocklisted word {match.group(1).lower()!r}")
        return Decision(CommentStatus.APPROVED)


class CausalityPolicy(enum.StrEnum):
    """What the async comments service does with a comment on a post it has not heard of
    (docs/METHOD.md, Causality across services)."""

    REFUSE = "refuse"  # NOT_FOUND at once (counted)
    WAIT = "wait"  # with a consistency token: wait (bounded) until the post is known, then decide
    ACCEPT = "accept"  # store it PENDING, publish nothing until the post is known; REJECTED after
    # a bound ("unknown post")

    @classmethod
    def parse(cls, text: str) -> CausalityPolicy:
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise InvalidArgument("causality", f"choose from {choices}, got {text!r}") from None


DEFAULT_CAUSALITY = CausalityPolicy.WAIT  # the measurements' choice (docs/METHOD.md)
# The policies' bounds by default: `wait` holds a CreateComment at most this long for its post
# (well under a client's deadline, longer than the consumer's lag under load by two orders of
# magnitude); `accept` holds a comment this long before it rejects it as on an unknown post.
CAUSALITY_WAIT_S = 2.0
CAUSALITY_ACCEPT_S = 5.0
UNKNOWN_POST_REASON = "unknown post"


@dataclass(frozen=True, slots=True)
class ConsistencyToken:
    """What a client has seen, as an opaque string it hands back: today, the creation of one
    post (CreatePost returns it; CreateComment may carry it). Versioned so it can grow."""

    post_id: str

    _PREFIX = "1:post:"

    def encode(self) -> str:
        raw = (self._PREFIX + self.post_id).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> ConsistencyToken | None:
        """The token in `text`; None when empty; InvalidArgument when it is not one of ours."""
        if not text:
            return None
        bad = InvalidArgument("consistency_token", "is not a token returned by CreatePost")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise bad from None
        if not raw.startswith(cls._PREFIX):
            raise bad
        try:
            return cls(str(uuid.UUID(raw[len(cls._PREFIX) :])))
        except ValueError:
            raise bad from None


def parse_blocklist(text: str) -> tuple[str, ...]:
    """Parse a comma-separated blocklist as given on the command line or in the environment."""
    return tuple(w.strip() for w in text.split(",") if w.strip())
