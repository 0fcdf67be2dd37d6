"""Unit tests of the shared domain core: validation, the moderation rule, paging tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blog.domain import (
    BODY_MAX,
    CONTENT_MAX,
    TITLE_MAX,
    CommentStatus,
    InvalidArgument,
    Moderator,
    NewComment,
    NewPost,
    parse_blocklist,
    validate_uuid,
)
from blog.paging import MAX_PAGE_SIZE, PageRequest, decode_token, encode_token

POST_ID = "0b7c5a57-5d0e-4a8e-9d6b-0a3c2a1f0e11"


class TestNewPost:
    def test_accepts_limits(self) -> None:
        post = NewPost.parse("t" * TITLE_MAX, "b" * BODY_MAX)
        assert len(post.title) == TITLE_MAX and len(post.body) == BODY_MAX

    @pytest.mark.parametrize(
        ("title", "body", "field"),
        [
            ("", "", "title"),
            ("   ", "", "title"),
            ("t" * (TITLE_MAX + 1), "", "title"),
            ("ok", "b" * (BODY_MAX + 1), "body"),
            ("nul\x00", "", "title"),
        ],
    )
    def test_rejects_naming_the_field(self, title: str, body: str, field: str) -> None:
        with pytest.raises(InvalidArgument) as raised:
            NewPost.parse(title, body)
        assert raised.value.field == field
        assert str(raised.value).startswith(field)

    def test_request_id_must_be_a_uuid(self) -> None:
        with pytest.raises(InvalidArgument, match="request_id"):
            NewPost.parse("t", "", request_id="nope")
        assert NewPost.parse("t", "", POST_ID.upper()).request_id == POST_ID


class TestNewComment:
    def test_valid(self) -> None:
        comment = NewComment.parse(POST_ID, "  hello  ")
        assert comment.content == "hello" and comment.post_id == POST_ID

    @pytest.mark.parametrize(
        ("post_id", "content", "field"),
        [
            ("", "x", "post_id"),
            ("not-a-uuid", "x", "post_id"),
            (POST_ID, "", "content"),
            (POST_ID, "c" * (CONTENT_MAX + 1), "content"),
        ],
    )
    def test_rejects_naming_the_field(self, post_id: str, content: str, field: str) -> None:
        with pytest.raises(InvalidArgument) as raised:
            NewComment.parse(post_id, content)
        assert raised.value.field == field


def test_validate_uuid_canonicalises() -> None:
    assert validate_uuid("id", POST_ID.upper()) == POST_ID
    with pytest.raises(InvalidArgument, match="id: must be a UUID"):
        validate_uuid("id", "1234")


class TestModerator:
    @pytest.mark.parametrize(
        "content",
        ["orange", "I like Orange juice", "ORANGE!", "(orange)", "spam, spam and eggs", "x scam"],
    )
    def test_rejects_blocklisted_whole_words_in_any_case(self, content: str) -> None:
        decision = Moderator().decide(content)
        assert decision.status is CommentStatus.REJECTED
        assert "blocklisted word" in decision.reason

    @pytest.mark.parametrize("content", ["oranges", "orangery", "spammer", "hello", "ora nge"])
    def test_approves_other_text(self, content: str) -> None:
        assert Moderator().decide(content).status is CommentStatus.APPROVED

    def test_blocklist_is_configurable(self) -> None:
        moderator = Moderator(parse_blocklist(" Kiwi , ,banana"))
        assert moderator.blocklist == ("banana", "kiwi")
        assert moderator.decide("a KIWI").status is CommentStatus.REJECTED
        assert moderator.decide("orange").status is CommentStatus.APPROVED

    def test_empty_blocklist_approves_everything(self) -> None:
        assert Moderator([]).decide("orange spam").status is CommentStatus.APPROVED

    def test_words_are_matched_literally(self) -> None:
        assert Moderator(["a.b"]).decide("axb").status is CommentStatus.APPROVED
        assert Moderator(["a.b"]).decide("x a.b y").status is CommentStatus.REJECTED


class TestPaging:
    def test_token_round_trip(self) -> None:
        at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        assert decode_token(encode_token(at, POST_ID)) == (at, POST_ID)

    @pytest.mark.parametrize("token", ["garbage", "e30", encode_token(datetime.now(UTC), "x")])
    def test_foreign_tokens_are_invalid_arguments(self, token: str) -> None:
        with pytest.raises(InvalidArgument, match="page_token"):
            PageRequest.parse(10, token)

    def test_page_size_defaults_and_caps(self) -> None:
        assert PageRequest.parse(0, "").size > 0
        assert PageRequest.parse(10_000, "").size == MAX_PAGE_SIZE
        with pytest.raises(InvalidArgument, match="page_size"):
            PageRequest.parse(-1, "")
