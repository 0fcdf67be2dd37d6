"""Traces on real stacks (docs/METHOD.md, Where each millisecond goes): one CreateComment is one
trace, from the client's span through every service it reaches, with the parentage the hops are
computed from; in async, through the outbox, NATS, moderation and back to the read model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from blog.rpc.channels import sync_channel
from blog.tracing.grpc import client_channel
from blog.v1 import api_pb2, api_pb2_grpc
from lab.stack.runner import Stack
from lab.trace.join import Trace, join
from lab.trace.otlp import Span, read_spans, trace_files
from lab.trace.summary import summarize
from tests.helpers import Api, PolicyStacks, eventually

CREATE_COMMENT = "/blog.v1.CommentService/CreateComment"


class TracedClient:
    """A CommentService stub whose calls start a trace (always sampled), its spans in memory:
    the test's own provider, so the test process's global tracing is left as it is."""

    def __init__(self, stack: Stack) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        address = stack.describe()["services"]["comments"]
        self.channel = client_channel(sync_channel(address), tracer_provider=provider)
        self.comments = api_pb2_grpc.CommentServiceStub(self.channel)

    def create_comment(self, request: api_pb2.CreateCommentRequest) -> tuple[str, str]:
        """CreateComment; returns (trace id, the client span's id)."""
        self.comments.CreateComment(request, timeout=5)
        (span,) = self.exporter.get_finished_spans()
        context = span.get_span_context()
        assert context is not None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@pytest.fixture(scope="module")
def sync_stack(policy_stacks: PolicyStacks) -> Stack:
    return policy_stacks("sync", trace_sample=1.0)


@pytest.fixture(scope="module")
def async_stack(policy_stacks: PolicyStacks) -> Stack:
    return policy_stacks("async", trace_sample=1.0)


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[tuple[Stack, Api]]:
    stack: Stack = request.getfixturevalue(request.param)
    client = Api.from_stack_file(stack.stack_file)
    yield stack, client
    client.close()


def spans_of(directory: Path, trace_id: str) -> list[Span]:
    return [s for s in read_spans(trace_files(directory)) if s.trace_id == trace_id]


def one_trace(stack: Stack, trace_id: str, client_span: str, wanted: set[tuple[str, str]]) -> Trace:
    """The services' spans of `trace_id` once every (service, name) in `wanted` is there
    (each process writes its file every second), as one trace under the client's span."""

    def complete() -> list[Span]:
        spans = spans_of(stack.trace_dir, trace_id)
        missing = wanted - {(s.service, s.name) for s in spans}
        assert not missing, f"not (yet) in the trace: {sorted(missing)}"
        return spans

    spans = eventually(complete, timeout_s=20)
    (trace,) = join(spans)
    assert trace.root.parent_id == client_span  # the services' root is the client's child
    assert trace.orphans == 0, "a span whose parent is not in the trace"
    return trace


def parent(trace: Trace, service: str, name: str) -> tuple[str, str]:
    """(service, name) of the parent of the span `name` of `service`."""
    by_id = {s.span_id: s for s in trace.spans}
    (span,) = [s for s in trace.spans if (s.service, s.name) == (service, name)]
    above = by_id[span.parent_id]
    return above.service, above.name


@pytest.mark.parametrize("api", ["sync_stack"], indirect=True)
def test_sync_create_comment_is_one_trace_through_posts_and_moderation(
    api: tuple[Stack, Api],
) -> None:
    stack, client = api
    post = client.posts.CreatePost(api_pb2.CreatePostRequest(title="traced", body="b"), timeout=5)
    request = api_pb2.CreateCommentRequest(post_id=post.id, content="a traced comment")
    trace_id, client_span = TracedClient(stack).create_comment(request)

    get_post = "/blog.v1.PostService/GetPost"
    moderate = "/blog.v1.ModerationService/Moderate"
    trace = one_trace(
        stack,
        trace_id,
        client_span,
        {("comments", CREATE_COMMENT), ("posts", get_post), ("moderation", moderate)},
    )
    kinds = {(s.service, s.name): s.kind for s in trace.spans}
    assert (trace.root.service, trace.root.name, trace.root.kind) == (
        "comments",
        CREATE_COMMENT,
        "SERVER",
    )
    # Each peer call: the caller's CLIENT span, under it the callee's SERVER span.
    for peer, method in (("posts", get_post), ("moderation", moderate)):
        assert kinds[("comments", method)] == "CLIENT"
        assert parent(trace, "comments", method) == ("comments", CREATE_COMMENT)
        assert parent(trace, peer, method) == ("comments", method)
    # Statements: under the handler that ran them, one span each.
    statements = {(s.service, s.name) for s in trace.spans if "db.system.name" in s.attributes}
    assert ("comments", "INSERT comments") in statements
    assert ("posts", "SELECT posts") in statements
    assert ("moderation", "INSERT decisions") in statements
    assert parent(trace, "posts", "SELECT posts") == ("posts", get_post)
    # Nothing else of the request became a trace of its own.
    others = [s for s in read_spans(trace_files(stack.trace_dir)) if s.name == CREATE_COMMENT]
    assert [s.trace_id for s in others] == [trace_id]


@pytest.mark.parametrize("api", ["sync_stack"], indirect=True)
def test_a_request_the_client_did_not_sample_leaves_no_span_anywhere(
    api: tuple[Stack, Api],
) -> None:
    """The services trace every request they start (share 1), yet a request whose client said
    "not sampled" is followed as such through comments, posts and moderation: no service makes
    a span of it, nor starts a trace of its own for the calls it makes."""
    stack, client = api
    post = client.posts.CreatePost(api_pb2.CreatePostRequest(title="t", body="b"), timeout=5)
    ignored = uuid.uuid4().hex
    not_sampled = f"00-{ignored}-{uuid.uuid4().hex[:16]}-00"
    request = api_pb2.CreateCommentRequest(post_id=post.id, content="not traced")
    client.comments.CreateComment(request, timeout=5, metadata=(("traceparent", not_sampled),))
    # A sampled request after it: once its spans are in every file, the earlier ones are too.
    sampled = api_pb2.CreateCommentRequest(post_id=post.id, content="traced")
    trace_id, client_span = TracedClient(stack).create_comment(sampled)
    moderate, get_post = "/blog.v1.ModerationService/Moderate", "/blog.v1.PostService/GetPost"
    # comments' own span too: each process writes its file on its own second, and without it
    # the trace's root would be a callee's span (its parent, comments' CLIENT span, not yet in).
    wanted = {("comments", CREATE_COMMENT), ("posts", "SELECT posts"), ("moderation", moderate)}
    one_trace(stack, trace_id, client_span, wanted)
    spans = read_spans(trace_files(stack.trace_dir))
    assert not [s for s in spans if s.trace_id == ignored]  # comments made no span of it
    # ... and its calls to posts and moderation started no trace there: every such span is a
    # child (of a sampled request's call).
    assert all(s.parent_id for s in spans if s.name in (moderate, get_post))


@pytest.mark.parametrize("api", ["async_stack"], indirect=True)
def test_async_create_comment_is_one_trace_to_the_read_model(
    api: tuple[Stack, Api], tmp_path: Path
) -> None:
    stack, client = api
    post = client.posts.CreatePost(api_pb2.CreatePostRequest(title="traced", body="b"), timeout=5)
    request = api_pb2.CreateCommentRequest(
        post_id=post.id,
        content="a traced comment",
        request_id=str(uuid.uuid4()),
        consistency_token=post.consistency_token,  # waits for the post instead of NOT_FOUND
    )
    trace_id, client_span = TracedClient(stack).create_comment(request)

    created, moderated, updated = (
        "blog.comment.created",
        "blog.comment.moderated",
        "blog.comment.updated",
    )
    trace = one_trace(
        stack,
        trace_id,
        client_span,
        {
            ("comments", CREATE_COMMENT),
            ("query", f"apply {created}"),
            ("moderation", f"apply {created}"),
            ("comments", f"apply {moderated}"),
            ("query", f"apply {updated}"),
        },
    )
    assert (trace.root.service, trace.root.name) == ("comments", CREATE_COMMENT)
    # The chain: handler -> publish (from the outbox) -> each consumer -> its apply -> ...
    assert parent(trace, "comments", f"publish {created}") == ("comments", CREATE_COMMENT)
    assert parent(trace, "comments", f"outbox wait {created}") == ("comments", CREATE_COMMENT)
    for consumer in ("moderation", "query"):
        assert parent(trace, consumer, f"process {created}") == ("comments", f"publish {created}")
        assert parent(trace, consumer, f"apply {created}") == (consumer, f"process {created}")
    assert parent(trace, "moderation", f"publish {moderated}") == (
        "moderation",
        f"apply {created}",
    )
    assert parent(trace, "comments", f"process {moderated}") == (
        "moderation",
        f"publish {moderated}",
    )
    assert parent(trace, "comments", f"publish {updated}") == ("comments", f"apply {moderated}")
    assert parent(trace, "query", f"process {updated}") == ("comments", f"publish {updated}")
    assert parent(trace, "query", f"apply {updated}") == ("query", f"process {updated}")
    kinds = {(s.service, s.name): s.kind for s in trace.spans}
    assert kinds[("comments", f"publish {created}")] == "PRODUCER"
    assert kinds[("query", f"process {updated}")] == "CONSUMER"

    # The breakdown of this one trace names the hops the report's table shows.
    summary = summarize(stack.trace_dir, tmp_path, figures_for=["CreateComment"])
    (op,) = [o for o in summary.operations if o.operation == "CreateComment"]
    hops = {h.hop for h in op.hops}
    assert {
        "response",
        "until the read model",
        "queueing before the handler [comments]",
        f"outbox wait [comments] {created}",
        f"bus delivery {created} → moderation",
        f"read-model apply {updated}",
        "unexplained gap (all)",
    } <= hops
    assert [w.which for w in op.waterfalls] == ["typical", "p99"]
    assert all((tmp_path / w.file).stat().st_size > 0 for w in op.waterfalls)
