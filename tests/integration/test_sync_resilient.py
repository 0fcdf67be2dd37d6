"""sync-resilient under real faults (docs/METHOD.md, Resilience): the comments database killed ->
views are the post alone, marked partial, within their deadline, and complete again after the
restore (for an old client too); posts killed -> a comment on a post seen before is taken, any
other refused, views refused at once and marked not to be retried; moderation killed ->
comments refused at once. And load shedding on a real grpc.aio server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from blog.rpc import metrics as service_metrics
from blog.rpc.metrics import Metrics
from blog.v1 import api_pb2
from lab.stack.runner import Stack
from lab.stack.stackfile import load_stack_file
from sync_impl.resilience.shedding import LoadShedder, SheddingInterceptor
from tests.helpers import Api, eventually, start_stack
from tests.old_client import compile_old_api, run_old_client

DEADLINE_S = 2.0  # the client's deadline: a partial answer must come within it


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack("sync-resilient", tmp_path_factory.mktemp("sync-resilient"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[Api]:
    client = Api.from_stack_file(stack.stack_file)
    try:
        yield client
    finally:
        client.close()


def counters(stack: Stack, service: str) -> dict[str, int]:
    return dict(service_metrics.fetch(stack.services[service][0].address).counters)


def code_of(call, request) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    try:
        call(request, timeout=DEADLINE_S)
        return "OK", ""
    except grpc.RpcError as error:
        return error.code().name, error.details()  # type: ignore[attr-defined]


def comment_taken_again(api: Api, post_id: str) -> None:
    """Once the peer is back (restarted, and the breaker closed by a probe): taken again."""

    def taken() -> None:
        code, details = code_of(
            api.comments.CreateComment,
            api_pb2.CreateCommentRequest(post_id=post_id, content="after the restore"),
        )
        assert code == "OK", (code, details)

    eventually(taken)


def ok_post(api: Api, title: str) -> api_pb2.Post:
    try:
        post: api_pb2.Post = api.posts.CreatePost(api_pb2.CreatePostRequest(title=title), timeout=5)
    except grpc.RpcError as error:
        raise AssertionError(f"posts not reachable yet: {error.code()}") from None  # type: ignore[attr-defined]
    return post


def view(api: Api, post_id: str) -> api_pb2.PostView:
    request = api_pb2.GetPostViewRequest(post_id=post_id)
    reply: api_pb2.PostView = api.query.GetPostView(request, timeout=DEADLINE_S)
    return reply


def test_comments_database_killed_views_are_partial_then_complete_again(
    stack: Stack, api: Api, tmp_path: Path
) -> None:
    post = api.posts.CreatePost(api_pb2.CreatePostRequest(title="resilient"), timeout=5)
    comment = api.comments.CreateComment(
        api_pb2.CreateCommentRequest(post_id=post.id, content="before the fault"), timeout=5
    )
    assert view(api, post.id).completeness == api_pb2.VIEW_COMPLETE
    old_code = compile_old_api(tmp_path / "old-client")
    info = dict(load_stack_file(stack.stack_file))

    stack.faults.inject("kill-db:comments")
    try:
        # Every answer within the client's deadline (a call past it raises): the post alone.
        for _ in range(10):
            partial = view(api, post.id)
            assert partial.completeness == api_pb2.VIEW_WITHOUT_COMMENTS
            assert partial.post.id == post.id and partial.post.title == "resilient"
            assert not partial.comments
        page = api.query.ListPostViews(api_pb2.ListPostViewsRequest(page_size=5), timeout=5)
        assert page.views and {v.completeness for v in page.views} == {
            api_pb2.VIEW_WITHOUT_COMMENTS
        }

        def breaker_opened() -> None:
            view(api, post.id)  # calls keep coming, as under load
            assert counters(stack, "query").get("breaker_opened_comments", 0) >= 1

        eventually(breaker_opened)
        assert counters(stack, "query")["views_partial"] >= 11
        # A client built before the field reads the partial view as a post without comments.
        assert run_old_client(old_code, info, "view", post.id)["comments"] == []
    finally:
        stack.faults.restore("comments")

    def complete_again() -> None:
        again = view(api, post.id)
        assert again.completeness == api_pb2.VIEW_COMPLETE, "still partial"
        assert [c.id for c in again.comments] == [comment.id]

    eventually(complete_again)


def test_posts_killed_a_comment_on_a_post_seen_before_is_taken_others_refused(
    stack: Stack, api: Api
) -> None:
    seen = api.posts.CreatePost(api_pb2.CreatePostRequest(title="seen"), timeout=5)
    api.comments.CreateComment(
        api_pb2.CreateCommentRequest(post_id=seen.id, content="the first"), timeout=5
    )
    unseen = api.posts.CreatePost(api_pb2.CreatePostRequest(title="unseen"), timeout=5)
    stack.faults.inject("kill:posts")
    try:
        taken = api.comments.CreateComment(
            api_pb2.CreateCommentRequest(post_id=seen.id, content="while posts is down"),
            timeout=DEADLINE_S,
        )
        assert taken.status == api_pb2.APPROVED
        code, details = code_of(
            api.comments.CreateComment,
            api_pb2.CreateCommentRequest(post_id=unseen.id, content="refused"),
        )
        assert (code, "posts service" in details) == ("UNAVAILABLE", True), details
        assert counters(stack, "comments")["post_checks_from_seen"] >= 1

        def refused_at_once() -> None:  # once the query's breaker for posts is open
            with pytest.raises(grpc.RpcError) as failed:
                view(api, seen.id)
            assert "circuit breaker open" in failed.value.details()  # type: ignore[attr-defined]
            # ... and marked so that no client retries it (gRPC's pushback).
            assert ("grpc-retry-pushback-ms", "-1") in failed.value.trailing_metadata()  # type: ignore[attr-defined]

        eventually(refused_at_once)
    finally:
        stack.faults.restore("posts")
    comment_taken_again(api, unseen.id)


def test_moderation_killed_comments_are_refused_at_once(stack: Stack, api: Api) -> None:
    # This client's own channel to posts may still be reconnecting after the test before.
    post = eventually(lambda: ok_post(api, "moderated"))
    stack.faults.inject("kill:moderation")
    try:
        for _ in range(8):  # enough to open the breaker: then refused without a call
            code, details = code_of(
                api.comments.CreateComment,
                api_pb2.CreateCommentRequest(post_id=post.id, content="unmoderated"),
            )
            assert code == "UNAVAILABLE" and "moderation service" in details, (code, details)
    finally:
        stack.faults.restore("moderation")
    comment_taken_again(api, post.id)


# --- load shedding on a real server ----------------------------------------------------------
def test_a_server_sheds_requests_beyond_its_bound_but_never_health_checks() -> None:
    async def scenario() -> None:
        metrics = Metrics("test")
        release = asyncio.Event()

        async def wait(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            await release.wait()
            return request

        handler = grpc.method_handlers_generic_handler(
            "test.Slow", {"Wait": grpc.unary_unary_rpc_method_handler(wait)}
        )
        interceptor = SheddingInterceptor(LoadShedder(2), metrics, "test")
        server = grpc.aio.server(handlers=[handler], interceptors=[interceptor])
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/test.Slow/Wait")
                held = [asyncio.ensure_future(call(b"x", timeout=10)) for _ in range(2)]
                while interceptor.shedder.in_flight < 2:
                    await asyncio.sleep(0.01)
                with pytest.raises(grpc.aio.AioRpcError) as shed:
                    await call(b"y", timeout=10)
                assert shed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "overloaded" in (shed.value.details() or "")
                trailing = shed.value.trailing_metadata()
                assert trailing is not None and trailing.get("grpc-retry-pushback-ms") == "-1"
                checked = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
                assert checked.status == health_pb2.HealthCheckResponse.SERVING
                release.set()
                assert await asyncio.gather(*held) == [b"x", b"x"]
                assert await call(b"z", timeout=10) == b"z"  # room again
            assert metrics.counters["requests_shed"] == 1
        finally:
            await server.stop(None)

    asyncio.run(scenario())
