"""The probe of `lab bench --causality`: one client that creates a post and at once comments on
it (carrying CreatePost's consistency token), retries a refusal as a client would, and times the
acknowledgement and the comment's final status in GetPostView; and the bad-input probe, comments
on posts that never existed (docs/METHOD.md, Causality across services)."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import grpc

from benchmarks.load.hdr import new_histogram, record, summary
from benchmarks.policies.documents import BadInput
from blog.domain import ConsistencyToken
from blog.v1 import api_pb2
from lab.stack.client import BlogClient

FINAL = (api_pb2.APPROVED, api_pb2.REJECTED)
TIMEOUT_S = 5.0  # each call's deadline
RETRY_PAUSE_S = 0.002  # a refused comment is sent again this soon (the ryw probe's pace)
POLL_S = 0.002  # final status polled this often
FINAL_LIMIT_S = 10.0  # a comment not final by then is counted `never_final`


class Probe:
    """The measured client: one thread, blocking stubs, histograms in microseconds."""

    def __init__(self, api: BlogClient) -> None:
        self.api = api
        self.first_call = new_histogram()
        self.acknowledged = new_histogram()
        self.final = new_histogram()
        self.send_to_final = new_histogram()
        self.refused = 0
        self.never_acknowledged = 0
        self.never_final = 0

    def pair(self, measured: bool) -> None:
        post = self.api.posts.CreatePost(
            api_pb2.CreatePostRequest(title="causality", body="probe", request_id=_uuid()),
            timeout=TIMEOUT_S,
        )
        request = api_pb2.CreateCommentRequest(
            post_id=post.id,
            content="right after the post",
            request_id=_uuid(),
            consistency_token=post.consistency_token,
        )
        sent = time.perf_counter()
        comment, first_us, refused = self._comment(request)
        acked = time.perf_counter()
        if not measured:
            return
        record(self.first_call, first_us)
        self.refused += refused
        if comment is None:
            self.never_acknowledged += 1
            return
        record(self.acknowledged, (acked - sent) * 1e6)
        if self._until_final(post.id, comment.id):
            record(self.final, (time.perf_counter() - acked) * 1e6)
            record(self.send_to_final, (time.perf_counter() - sent) * 1e6)
        else:
            self.never_final += 1

    def _comment(
        self, request: api_pb2.CreateCommentRequest
    ) -> tuple[api_pb2.Comment | None, float, int]:
        """(the comment or None, the first call's duration in us, 1 if refused first)."""
        deadline = time.perf_counter() + FINAL_LIMIT_S
        first_us: float | None = None
        refused = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                comment = self.api.comments.CreateComment(request, timeout=TIMEOUT_S)
            except grpc.RpcError as error:
                if first_us is None:
                    first_us = (time.perf_counter() - start) * 1e6
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                refused = 1
                time.sleep(RETRY_PAUSE_S)
                continue
            return comment, first_us if first_us is not None else _us_since(start), refused
        return None, first_us or 0.0, refused

    def _until_final(self, post_id: str, comment_id: str) -> bool:
        deadline = time.perf_counter() + FINAL_LIMIT_S
        request = api_pb2.GetPostViewRequest(post_id=post_id)
        while time.perf_counter() < deadline:
            try:
                view = self.api.query.GetPostView(request, timeout=TIMEOUT_S)
                if any(c.id == comment_id and c.status in FINAL for c in view.comments):
                    return True
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            time.sleep(POLL_S)
        return False

    def bad_input(self, count: int, with_token: bool, limit_s: float) -> BadInput:
        """Comments on posts that never existed, sent together; time to each answer."""
        hist = new_histogram()
        answers: Counter[str] = Counter()
        pending: dict[str, tuple[float, grpc.Future]] = {}
        answered: dict[str, float] = {}
        for _ in range(count):
            post_id = _uuid()
            request = api_pb2.CreateCommentRequest(
                post_id=post_id,
                content="on a post that never existed",
                request_id=_uuid(),
                consistency_token=ConsistencyToken(post_id).encode() if with_token else "",
            )
            sent = time.perf_counter()
            future = self.api.comments.CreateComment.future(request, timeout=TIMEOUT_S)
            # The answer's time is taken when it arrives, not when this thread reads it.
            future.add_done_callback(lambda _f, k=post_id: answered.setdefault(k, _now()))
            pending[post_id] = (sent, future)
        accepted: dict[str, float] = {}  # post id -> when its comment was sent
        for post_id, (sent, future) in pending.items():
            try:
                future.result()
                accepted[post_id] = sent
            except grpc.RpcError as error:
                answers[error.code().name] += 1
                record(hist, (answered.get(post_id, _now()) - sent) * 1e6)
        deadline = time.perf_counter() + limit_s
        while accepted and time.perf_counter() < deadline:  # accept: until REJECTED shows
            for post_id, sent in list(accepted.items()):
                listed = self.api.comments.ListComments(
                    api_pb2.ListCommentsRequest(post_id=post_id), timeout=TIMEOUT_S
                )
                status = listed.comments[0].status if listed.comments else None
                if status in FINAL:
                    answers[api_pb2.CommentStatus.Name(status)] += 1  # type: ignore[arg-type]
                    record(hist, _us_since(sent))
                    del accepted[post_id]
            time.sleep(0.01)
        if accepted:
            answers["TIMEOUT"] += len(accepted)
        return {"answers": dict(answers), "time_ms": summary(hist)}


def _uuid() -> str:
    return str(uuid.uuid4())


def _now() -> float:
    return time.perf_counter()


def _us_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e6
