"""The contract suite: the public blog.v1 API, as any client sees it, for every implementation.

Written against protos/ and stack.json only. Reads that may lag writes (the async
implementation) go through `eventually`, a bounded retry; the sync implementation passes at once.
"""

from __future__ import annotations

import uuid

import grpc
import pytest

from blog.domain import DEFAULT_CAUSALITY, ConsistencyToken
from blog.v1 import api_pb2
from lab.stack.runner import Stack
from tests.helpers import ACCEPT_STACK, Api, PolicyStacks, comment_on, eventually

APPROVED, REJECTED, PENDING = api_pb2.APPROVED, api_pb2.REJECTED, api_pb2.PENDING
TIMEOUT = 5.0


def expect_error(code: grpc.StatusCode, call, *args, **kwargs) -> str:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, timeout=TIMEOUT, **kwargs)
    assert raised.value.code() == code, raised.value.details()
    return raised.value.details()


def create_post(api: Api, title: str = "A post", body: str = "Body") -> api_pb2.Post:
    return api.posts.CreatePost(api_pb2.CreatePostRequest(title=title, body=body), timeout=TIMEOUT)


def as_read(post: api_pb2.Post) -> api_pb2.Post:
    """The post as reads return it: CreatePost's reply alone carries the consistency token."""
    read = api_pb2.Post()
    read.CopyFrom(post)
    read.ClearField("consistency_token")
    return read


def view_when(api: Api, post_id: str, ready) -> api_pb2.PostView:
    def check() -> api_pb2.PostView:
        try:
            view = api.query.GetPostView(
                api_pb2.GetPostViewRequest(post_id=post_id), timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            assert error.code() != grpc.StatusCode.NOT_FOUND, "post not in the view yet"
            raise
        assert ready(view), "view not converged yet"
        return view

    return eventually(check)


# --- posts -----------------------------------------------------------------------------------
def test_create_and_get_post(api: Api) -> None:
    post = create_post(api, "Hello", "World")
    assert uuid.UUID(post.id)
    assert (post.title, post.body) == ("Hello", "World")
    assert post.created_at.seconds > 0
    assert post.consistency_token
    assert api.posts.GetPost(api_pb2.GetPostRequest(id=post.id), timeout=TIMEOUT) == as_read(post)


def test_create_post_is_idempotent_per_request_id(api: Api) -> None:
    request = api_pb2.CreatePostRequest(title="once", request_id=str(uuid.uuid4()))
    first = api.posts.CreatePost(request, timeout=TIMEOUT)
    assert api.posts.CreatePost(request, timeout=TIMEOUT) == first


@pytest.mark.parametrize(
    ("title", "body", "field"),
    [("", "b", "title"), ("t" * 201, "b", "title"), ("t", "b" * 10_001, "body")],
)
def test_invalid_post_is_rejected_naming_the_field(
    api: Api, title: str, body: str, field: str
) -> None:
    details = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        api.posts.CreatePost,
        api_pb2.CreatePostRequest(title=title, body=body),
    )
    assert details.startswith(field)


def test_get_post_errors(api: Api) -> None:
    expect_error(
        grpc.StatusCode.NOT_FOUND, api.posts.GetPost, api_pb2.GetPostRequest(id=str(uuid.uuid4()))
    )
    details = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, api.posts.GetPost, api_pb2.GetPostRequest(id="42")
    )
    assert "id" in details


# --- comments and moderation -----------------------------------------------------------------
def test_comment_is_approved_or_rejected_by_moderation(api: Api) -> None:
    post = create_post(api)
    good = comment_on(api, post.id, "What a thoughtful post")
    bad = comment_on(api, post.id, "Visit my ORANGE store")
    fine = comment_on(api, post.id, "I like oranges")  # not the whole word
    for comment in (good, bad, fine):
        assert comment.post_id == post.id and uuid.UUID(comment.id)
        # sync answers with the final status; async answers PENDING and decides later.
        assert comment.status in (PENDING, APPROVED, REJECTED)
    expected = {good.id: APPROVED, bad.id: REJECTED, fine.id: APPROVED}
    view = view_when(api, post.id, lambda v: {c.id: c.status for c in v.comments} == expected)
    assert [c.content for c in view.comments] == [good.content, bad.content, fine.content]
    listed = eventually(
        lambda: (
            _statuses(
                api.comments.ListComments(
                    api_pb2.ListCommentsRequest(post_id=post.id), timeout=TIMEOUT
                )
            )
            == expected
            or _fail("comments service not converged")
        )
    )
    assert listed


def _statuses(reply: api_pb2.ListCommentsResponse) -> dict[str, int]:
    return {c.id: c.status for c in reply.comments}


def _fail(message: str) -> bool:
    raise AssertionError(message)


def test_comment_on_unknown_post_is_not_found(api: Api) -> None:
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        api.comments.CreateComment,
        api_pb2.CreateCommentRequest(post_id=str(uuid.uuid4()), content="hello?"),
    )


# --- causality: a comment right after its post (docs/METHOD.md, Causality across services) ----
IMMEDIATE_COMMENTS = 50  # enough to meet the race: async refuse loses most of them


@pytest.mark.parametrize("policy", ["wait", "accept"])
def test_comment_right_after_its_post_is_taken(
    api: Api, stack: Stack, policy_stacks: PolicyStacks, policy: str
) -> None:
    """CreatePost, then at once CreateComment with the post's token: never refused."""
    if stack.config.impl == "async" and policy != DEFAULT_CAUSALITY.value:
        settings = {**ACCEPT_STACK, "causality": policy}
        other = Api.from_stack_file(policy_stacks("async", **settings).stack_file)
    else:
        other = None  # sync ignores the policy; the shared async stack runs the default
    client = other or api
    try:
        taken = []
        for i in range(IMMEDIATE_COMMENTS):
            post = create_post(client, f"causal {i}")
            request = api_pb2.CreateCommentRequest(
                post_id=post.id, content=f"first! {i}", consistency_token=post.consistency_token
            )
            comment = client.comments.CreateComment(request, timeout=TIMEOUT)
            assert comment.post_id == post.id and comment.status in (PENDING, APPROVED)
            taken.append(comment)
        last = taken[-1]
        view_when(
            client,
            last.post_id,
            lambda v: [(c.id, c.status) for c in v.comments] == [(last.id, APPROVED)],
        )
    finally:
        if other is not None:
            other.close()


def test_comment_with_a_token_of_a_post_that_never_existed_is_not_found(api: Api) -> None:
    """async wait: after the bound (never past the client's deadline); sync: at once."""
    never = str(uuid.uuid4())
    request = api_pb2.CreateCommentRequest(
        post_id=never, content="hello?", consistency_token=ConsistencyToken(never).encode()
    )
    with pytest.raises(grpc.RpcError) as raised:
        api.comments.CreateComment(request, timeout=1.0)  # shorter than the default bound
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND, raised.value.details()


def test_malformed_token_is_invalid_argument(api: Api) -> None:
    post = create_post(api)
    request = api_pb2.CreateCommentRequest(post_id=post.id, content="x", consistency_token="??")
    details = expect_error(grpc.StatusCode.INVALID_ARGUMENT, api.comments.CreateComment, request)
    assert details.startswith("consistency_token")


@pytest.mark.parametrize(
    ("post_id", "content", "field"),
    [
        ("", "x", "post_id"),
        ("nope", "x", "post_id"),
        (None, "", "content"),
        (None, "c" * 2001, "content"),
    ],
)
def test_invalid_comment_is_rejected_naming_the_field(
    api: Api, post_id, content: str, field: str
) -> None:
    request = api_pb2.CreateCommentRequest(
        post_id=post_id if post_id is not None else str(uuid.uuid4()), content=content
    )
    details = expect_error(grpc.StatusCode.INVALID_ARGUMENT, api.comments.CreateComment, request)
    assert details.startswith(field)


def test_create_comment_is_idempotent_per_request_id(api: Api) -> None:
    post = create_post(api)
    first = comment_on(api, post.id, "only once")
    again = api.comments.CreateComment(
        api_pb2.CreateCommentRequest(
            post_id=post.id, content="only once", request_id=str(uuid.uuid4())
        ),
        timeout=TIMEOUT,
    )
    assert again.id != first.id  # a new request_id is a new comment
    view = view_when(api, post.id, lambda v: len(v.comments) == 2)
    assert {c.id for c in view.comments} == {first.id, again.id}


# --- query -----------------------------------------------------------------------------------
def test_post_view_of_a_post_without_comments(api: Api) -> None:
    post = create_post(api, "Lonely")
    view = view_when(api, post.id, lambda v: True)
    assert view.post == as_read(post)
    assert list(view.comments) == []


def test_post_view_errors(api: Api) -> None:
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        api.query.GetPostView,
        api_pb2.GetPostViewRequest(post_id=str(uuid.uuid4())),
    )
    details = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        api.query.GetPostView,
        api_pb2.GetPostViewRequest(post_id="x"),
    )
    assert details.startswith("post_id")


def test_list_post_views_pages_newest_first(api: Api) -> None:
    created = [create_post(api, f"page test {i}") for i in range(3)]
    for post in created:
        comment_on(api, post.id, f"comment on {post.title}")
    wanted = {p.id for p in created}

    def walk() -> list[api_pb2.PostView]:
        seen: list[api_pb2.PostView] = []
        token = ""
        for _ in range(50):  # bounded: the suite creates far fewer posts than 50 pages
            page = api.query.ListPostViews(
                api_pb2.ListPostViewsRequest(page_size=2, page_token=token), timeout=TIMEOUT
            )
            assert len(page.views) <= 2
            seen += page.views
            token = page.next_page_token
            if not token or wanted <= {v.post.id for v in seen}:
                break
        mine = [v for v in seen if v.post.id in wanted]
        assert {v.post.id for v in mine} == wanted, "not all posts listed yet"
        assert all(len(v.comments) == 1 for v in mine), "comments not in the views yet"
        return seen

    seen = eventually(walk)
    order = [v.post.id for v in seen if v.post.id in wanted]
    assert order == [p.id for p in reversed(created)]  # newest first
    stamps = [(v.post.created_at.seconds, v.post.created_at.nanos) for v in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert len({v.post.id for v in seen}) == len(seen)  # no post twice across pages


def test_list_post_views_rejects_bad_paging(api: Api) -> None:
    details = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        api.query.ListPostViews,
        api_pb2.ListPostViewsRequest(page_token="not-a-token"),
    )
    assert details.startswith("page_token")
    details = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        api.query.ListPostViews,
        api_pb2.ListPostViewsRequest(page_size=-1),
    )
    assert details.startswith("page_size")
