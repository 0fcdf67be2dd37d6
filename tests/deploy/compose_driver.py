"""A client of a compose stack, run *inside* the lab image on the stack's network:

    python /driver/compose_driver.py seed|outage|verify < state.json > state.json

It reaches the services by their one name each (the image's /app/stack.json: posts:50051, ...),
through the lab's own client (stack.client.BlogClient: dns:/// targets, round robin over
replicas), exactly as Locust in the same network does. Each phase reads the state the previous
one printed (every write it attempted and every one acknowledged, with its request id) and
prints it back with its own findings; tests/deploy/test_compose_podman.py runs the phases around
a kill of the comments database and asserts on what they found.

- seed: posts, and comments on them (one with a blocklisted word), every one acknowledged.
- outage (comments database killed): views and pages of views are served for a few seconds, a
  post can still be created (async: the posts service needs nothing of comments), a comment
  cannot (UNAVAILABLE naming the comments database, or DEADLINE_EXCEEDED: a pooled connection
  to the killed container can hang until the statement times out, see the test).
- verify (database restored): a comment is accepted again, also on a post created during the
  outage (catch-up); then, within a deadline, every acknowledged post and comment is in its
  owner's service and in the query view exactly once, every comment moderated, and nothing shows
  up that was never attempted (the audit, in the lab's terms: lost, duplicated, unexpected,
  indeterminate, recovered).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc

from blog.v1 import api_pb2
from lab.stack.client import BlogClient
from lab.stack.stackfile import load_stack_file

STACK = Path("/app/stack.json")
TIMEOUT_S = 5.0
FINAL = {api_pb2.APPROVED, api_pb2.REJECTED}
# Retried with the same request id (safe: a retry returns what the first attempt created): the
# post not known yet (async), the database not back yet, or a call that outlived its deadline.
RETRIED = {"NOT_FOUND", "UNAVAILABLE", "DEADLINE_EXCEEDED"}


def code_of(error: grpc.RpcError) -> str:
    return str(error.code().name)  # type: ignore[attr-defined]


def create_post(api: BlogClient, state: dict[str, Any], title: str) -> str | None:
    request_id = str(uuid.uuid4())
    attempt: dict[str, Any] = {"kind": "post", "request_id": request_id, "title": title}
    state["attempted"].append(attempt)
    try:
        post = api.posts.CreatePost(
            api_pb2.CreatePostRequest(title=title, body=f"body of {title}", request_id=request_id),
            timeout=TIMEOUT_S,
        )
    except grpc.RpcError as error:
        attempt["error"] = code_of(error)
        return None
    state["posts"].append(post.id)
    attempt["id"] = post.id
    return str(post.id)


def create_comment(
    api: BlogClient, state: dict[str, Any], post_id: str, content: str, retry_s: float = 0.0
) -> tuple[str | None, str]:
    """CreateComment with one request id, retried (same id) on NOT_FOUND for up to retry_s:
    async learns of a post from its event. Returns (id or None, status or error code)."""
    request_id = str(uuid.uuid4())
    attempt: dict[str, Any] = {
        "kind": "comment",
        "request_id": request_id,
        "post_id": post_id,
        "content": content,
    }
    state["attempted"].append(attempt)
    request = api_pb2.CreateCommentRequest(post_id=post_id, content=content, request_id=request_id)
    started = time.monotonic()
    deadline = started + retry_s
    failures: list[str] = []
    while True:
        try:
            comment = api.comments.CreateComment(request, timeout=TIMEOUT_S)
        except grpc.RpcError as error:
            code = code_of(error)
            attempt["error"] = code
            attempt["details"] = str(error.details())  # type: ignore[attr-defined]
            failures.append(f"{time.monotonic() - started:.1f}s {code}: {attempt['details'][:90]}")
            if time.monotonic() < deadline and code in RETRIED:
                time.sleep(0.2)
                continue
            return None, code
        attempt.pop("error", None)
        attempt.pop("details", None)
        if failures:
            attempt["failures_before"] = failures
        attempt["id"] = comment.id
        state["comments"][comment.id] = post_id
        return str(comment.id), api_pb2.CommentStatus.Name(comment.status)


def seed(api: BlogClient, state: dict[str, Any]) -> None:
    for i in range(4):
        post_id = create_post(api, state, f"compose seed {i}")
        assert post_id, f"CreatePost failed: {state['attempted'][-1]}"
    for i, post_id in enumerate(state["posts"]):
        for content in (f"first comment {i}", f"cheap orange deals {i}"):
            comment_id, status = create_comment(api, state, post_id, content, retry_s=30)
            assert comment_id, f"CreateComment failed: {state['attempted'][-1]}"


def outage(api: BlogClient, state: dict[str, Any], hold_s: float = 3.0) -> None:
    calls = {"GetPostView": [0, 0], "ListPostViews": [0, 0]}  # [ok, failed]
    errors: list[str] = []
    end = time.monotonic() + hold_s
    while time.monotonic() < end:
        for post_id in state["posts"]:
            try:
                api.query.GetPostView(api_pb2.GetPostViewRequest(post_id=post_id), timeout=2)
                calls["GetPostView"][0] += 1
            except grpc.RpcError as error:
                calls["GetPostView"][1] += 1
                errors.append(f"GetPostView: {code_of(error)}")
        try:
            api.query.ListPostViews(api_pb2.ListPostViewsRequest(page_size=50), timeout=2)
            calls["ListPostViews"][0] += 1
        except grpc.RpcError as error:
            calls["ListPostViews"][1] += 1
            errors.append(f"ListPostViews: {code_of(error)}")
    created = [create_post(api, state, f"compose outage {i}") for i in range(2)]
    _, comment_status = create_comment(api, state, state["posts"][0], "during the outage")
    state["outage"] = {
        "calls": calls,
        "errors": errors[:10],
        "posts_created": sum(1 for c in created if c),
        "comment": comment_status,
        "comment_details": state["attempted"][-1].get("details", ""),
    }


def verify(api: BlogClient, state: dict[str, Any], limit_s: float = 120.0) -> None:
    started = time.monotonic()
    outage_posts = [
        a["id"]
        for a in state["attempted"]
        if a.get("title", "").startswith("compose outage") and "id" in a
    ]
    target = outage_posts[0] if outage_posts else state["posts"][0]
    comment_id, status = create_comment(api, state, target, "after the restore", retry_s=limit_s)
    state["verify"] = {
        "comment_after_restore": status,
        "comment_after_restore_s": round(time.monotonic() - started, 2),
        "failures_before": state["attempted"][-1].get("failures_before", []),
    }
    deadline = time.monotonic() + limit_s
    while True:
        audit = audit_once(api, state)
        if audit["converged"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    audit["converged_s"] = round(time.monotonic() - started, 2)
    state["verify"].update(audit)


def audit_once(api: BlogClient, state: dict[str, Any]) -> dict[str, Any]:
    """Every acknowledged write in its owner and in the query view, exactly once; no failed
    write visible; every comment in the view moderated."""
    seen_in_view: dict[str, int] = {}
    seen_in_owner: dict[str, int] = {}
    missing_posts: list[str] = []
    unmoderated = 0
    contents: set[str] = set()
    for post_id in state["posts"]:
        try:
            api.posts.GetPost(api_pb2.GetPostRequest(id=post_id), timeout=TIMEOUT_S)
            view = api.query.GetPostView(api_pb2.GetPostViewRequest(post_id=post_id), timeout=2)
            owned = api.comments.ListComments(
                api_pb2.ListCommentsRequest(post_id=post_id), timeout=TIMEOUT_S
            )
        except grpc.RpcError:
            missing_posts.append(post_id)
            continue
        for comment in view.comments:
            seen_in_view[comment.id] = seen_in_view.get(comment.id, 0) + 1
            contents.add(comment.content)
            unmoderated += comment.status not in FINAL
        for comment in owned.comments:
            seen_in_owner[comment.id] = seen_in_owner.get(comment.id, 0) + 1
    acknowledged = list(state["comments"])
    lost = [c for c in acknowledged if c not in seen_in_view or c not in seen_in_owner]
    duplicated = {c for seen in (seen_in_view, seen_in_owner) for c, n in seen.items() if n > 1}
    # A write that got no answer it can trust (deadline, unavailable) is indeterminate: it may
    # show up later (recovered). Unexpected: a comment nobody attempted.
    failed = [a for a in state["attempted"] if a["kind"] == "comment" and "id" not in a]
    attempted_contents = {a["content"] for a in state["attempted"] if a["kind"] == "comment"}
    recovered = [a["request_id"] for a in failed if a["content"] in contents]
    unexpected = contents - attempted_contents
    return {
        "attempted": len(state["attempted"]),
        "acknowledged": len(state["posts"]) + len(acknowledged),
        "lost": len(missing_posts) + len(lost),
        "duplicated": len(duplicated),
        "unexpected": len(unexpected),
        "indeterminate": len(failed),
        "recovered": len(recovered),
        "unmoderated": unmoderated,
        "converged": not missing_posts and not lost and not duplicated and not unmoderated,
    }


def connect(api: BlogClient, limit_s: float = 60.0) -> float:
    """Wait until every channel is connected; the seconds it took. This container has just
    joined the network: a first lookup of a service's name through aardvark-dns can fail, and
    a channel whose name did not resolve fails every call fast until it re-resolves (with
    backoff). What a phase measures is the services, not the container's first lookup."""
    started = time.monotonic()
    for channel in api.channels:
        grpc.channel_ready_future(channel).result(
            timeout=max(0.0, started + limit_s - time.monotonic())
        )
    return round(time.monotonic() - started, 2)


PHASES = {"seed": seed, "outage": outage, "verify": verify}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PHASES:
        print(f"usage: compose_driver.py {{{'|'.join(PHASES)}}} < state.json", file=sys.stderr)
        return 2
    text = sys.stdin.read().strip()
    state = json.loads(text) if text else {}
    state.setdefault("attempted", [])
    state.setdefault("posts", [])
    state.setdefault("comments", {})
    api = BlogClient.from_stack(load_stack_file(STACK))
    try:
        state.setdefault("connected_s", {})[argv[0]] = connect(api)
        PHASES[argv[0]](api, state)
    finally:
        api.close()
    print(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
