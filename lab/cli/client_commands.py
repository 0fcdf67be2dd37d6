"""The public API by hand: `lab post create/get`, `lab comment add/list`, `lab view`, `lab list`.

Each command is a function of its arguments and a BlogClient built from the stack's stack.json.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp

from blog.v1 import api_pb2
from lab.cli.bounds import number
from lab.cli.common import Run, SubParsers, emit, find_stack_file, stack_command
from lab.stack.client import BlogClient

_STATUS_NAMES = {v: k for k, v in api_pb2.CommentStatus.items()}

ClientCommand = Callable[[argparse.Namespace, BlogClient], None]


def with_client(command: ClientCommand) -> Run:
    """`command` as a `run`: given a client of the stack --stack names (or the only one)."""

    def run(args: argparse.Namespace) -> int:
        client = BlogClient.from_stack_file(find_stack_file(args.stack))
        try:
            command(args, client)
        finally:
            client.close()
        return 0

    return run


# --- formatting ------------------------------------------------------------------------------
def _time(ts: Timestamp) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def format_comment(c: api_pb2.Comment) -> str:
    return f"  - [{_STATUS_NAMES[c.status]}] {c.content}  (comment {c.id})"


def format_view(view: api_pb2.PostView) -> str:
    p = view.post
    lines = [f"post {p.id}  {_time(p.created_at)}", f"  {p.title}"]
    if p.body:
        lines.append(f"  {p.body}")
    if view.completeness == api_pb2.VIEW_WITHOUT_COMMENTS:
        # sync-resilient's partial answer: "no comments" would be a lie.
        lines.append("  comments: unavailable (a partial answer: the post without its comments)")
        return "\n".join(lines)
    lines.append(f"  comments: {len(view.comments)}")
    lines += [format_comment(c) for c in view.comments]
    return "\n".join(lines)


# --- commands --------------------------------------------------------------------------------
def post_create(args: argparse.Namespace, client: BlogClient) -> None:
    # A request_id makes gRPC's automatic retry (on UNAVAILABLE) safe: never a second post.
    request = api_pb2.CreatePostRequest(
        title=args.title, body=args.body, request_id=str(uuid.uuid4())
    )
    post = client.posts.CreatePost(request, timeout=args.timeout)
    emit(args, post, f"created post {post.id}: {post.title}")


def post_get(args: argparse.Namespace, client: BlogClient) -> None:
    post = client.posts.GetPost(api_pb2.GetPostRequest(id=args.post_id), timeout=args.timeout)
    emit(args, post, f"post {post.id}  {_time(post.created_at)}\n  {post.title}\n  {post.body}")


def comment_add(args: argparse.Namespace, client: BlogClient) -> None:
    request = api_pb2.CreateCommentRequest(
        post_id=args.post_id, content=args.content, request_id=str(uuid.uuid4())
    )
    comment = client.comments.CreateComment(request, timeout=args.timeout)
    status = _STATUS_NAMES[comment.status]
    emit(args, comment, f"comment {comment.id} on post {comment.post_id}: {status}")


def comment_list(args: argparse.Namespace, client: BlogClient) -> None:
    reply = client.comments.ListComments(
        api_pb2.ListCommentsRequest(post_id=args.post_id), timeout=args.timeout
    )
    text = "\n".join(format_comment(c) for c in reply.comments) or "  (no comments)"
    emit(args, reply, text)


def view(args: argparse.Namespace, client: BlogClient) -> None:
    reply = client.query.GetPostView(
        api_pb2.GetPostViewRequest(post_id=args.post_id), timeout=args.timeout
    )
    emit(args, reply, format_view(reply))


def list_views(args: argparse.Namespace, client: BlogClient) -> None:
    reply = client.query.ListPostViews(
        api_pb2.ListPostViewsRequest(page_size=args.page_size, page_token=args.page_token),
        timeout=args.timeout,
    )
    text = "\n".join(format_view(v) for v in reply.views) or "(no posts)"
    if reply.next_page_token:
        text += f"\nmore: lab list --page-token {reply.next_page_token}"
    emit(args, reply, text)


# --- parser ----------------------------------------------------------------------------------
def add_commands(sub: SubParsers) -> None:
    post = sub.add_parser("post", help="create or read posts").add_subparsers(
        dest="post_command", required=True, metavar="ACTION"
    )
    p = stack_command(post, "create", with_client(post_create), "create a post")
    p.add_argument("--title", required=True)
    p.add_argument("--body", default="")
    p = stack_command(post, "get", with_client(post_get), "show one post")
    p.add_argument("post_id")

    comment = sub.add_parser("comment", help="add or list comments").add_subparsers(
        dest="comment_command", required=True, metavar="ACTION"
    )
    p = stack_command(comment, "add", with_client(comment_add), "comment on a post")
    p.add_argument("post_id")
    p.add_argument("content")
    p = stack_command(comment, "list", with_client(comment_list), "list a post's comments")
    p.add_argument("post_id")

    p = stack_command(sub, "view", with_client(view), "a post with its comments (query service)")
    p.add_argument("post_id")
    p = stack_command(
        sub, "list", with_client(list_views), "posts with their comments, newest first"
    )
    # The query service judges the page size (0: its default; above its maximum: capped).
    p.add_argument("--page-size", type=number(int), default=10)
    p.add_argument("--page-token", default="")
