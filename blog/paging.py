"""Opaque keyset page tokens for listing posts newest first (shared by every listing)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from blog.domain import InvalidArgument, validate_uuid

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A validated page request: how many, and where the previous page ended (if anywhere)."""

    size: int
    after: tuple[datetime, str] | None  # (created_at, id) of the last item already seen

    @classmethod
    def parse(cls, page_size: int, page_token: str) -> PageRequest:
        if page_size < 0:
            raise InvalidArgument("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return cls(size, decode_token(page_token) if page_token else None)


T = TypeVar("T")


def cut_page(
    fetched: Sequence[T], size: int, key: Callable[[T], tuple[datetime, str]]
) -> tuple[list[T], str]:
    """Of up to size + 1 items fetched (one more than asked: is there a next page?), the page
    and the next page's token after its last item's key ('' when this page is the last)."""
    items = list(fetched[:size])
    return items, encode_token(*key(items[-1])) if len(fetched) > size and items else ""


def encode_token(created_at: datetime, item_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[datetime, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        created_at, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created_at), validate_uuid("page_token", item_id)
    except (ValueError, TypeError, InvalidArgument):
        raise InvalidArgument("page_token", "is not a token this server issued") from None
