"""`lab`: run a stack (`lab up`) and use it by hand (`lab post`, `lab comment`, `lab view`, ...)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from blog.v1 import api_pb2
from lab.rpc.channels import sync_channel
from stack.client import BlogClient
from stack.runner import Stack, StackConfig, StackError
from stack.stackfile import load_stack_file
from stack.topology import TOPOLOGY

DEFAULT_DATA_ROOT = Path(".lab")
CLIENT_TIMEOUT_S = 5.0
_STATUS_NAMES = {v: k for k, v in api_pb2.CommentStatus.items()}


class CliError(Exception):
    """An error to print as one line, with no traceback."""


# --- lab up ----------------------------------------------------------------------------------
def parse_replicas(text: str) -> dict[str, int]:
    """'2' (every service) or 'posts=2,comments=3'."""
    if not text:
        return {}
    try:
        if "=" not in text:
            return {name: int(text) for name in ("posts", "comments", "moderation", "query")}
        pairs = (item.split("=", 1) for item in text.split(",") if item)
        return {name.strip(): int(count) for name, count in pairs}
    except ValueError:
        raise CliError(f"--replicas: expected N or service=N[,...], got {text!r}") from None


def cmd_up(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or DEFAULT_DATA_ROOT / args.impl
    stop_requested = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    # Handle SIGTERM like Ctrl-C, from the start: a stop during start-up must clean up too.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = Stack(
        StackConfig(
            impl=args.impl,
            data_dir=Path(data_dir),
            replicas=parse_replicas(args.replicas),
            blocklist=args.blocklist,
            moderation_delay_ms=args.moderation_delay_ms,
            call_timeout_ms=args.call_timeout_ms,
            fresh=args.fresh,
        )
    )
    try:
        stack.start(progress=True)
        services = stack.describe()["services"]
        summary = " ".join(f"{n}={','.join(a)}" for n, a in services.items() if a)
        print(f"ready impl={args.impl} stack={stack.stack_file} {summary}", flush=True)
        print("press Ctrl-C (or send SIGTERM) to stop everything", flush=True)
        reported: set[str] = set()
        while not stop_requested:
            for part in stack.exited():
                if part not in reported:
                    reported.add(part)
                    print(f"warning: {part} is not running", flush=True)
            time.sleep(0.2)
        print("stopping ...", flush=True)
    except StackError as error:
        raise CliError(str(error)) from None
    finally:
        # Ignore further signals while stopping, so a second Ctrl-C cannot leave orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    print("stopped", flush=True)
    return 0


# --- client commands -------------------------------------------------------------------------
def find_stack_file(given: str | None) -> Path:
    if given:
        path = Path(given)
        if path.is_dir():
            path = path / "stack.json"
        if not path.exists():
            raise CliError(f"{path} does not exist: is `lab up` running with that data dir?")
        return path
    running = sorted(DEFAULT_DATA_ROOT.glob("*/stack.json"))
    if not running:
        raise CliError("no running stack found under .lab/: start one with `lab up --impl sync`")
    if len(running) > 1:
        names = ", ".join(str(p) for p in running)
        raise CliError(f"several stacks are running ({names}); choose one with --stack")
    return running[0]


def _time(ts: Any) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def format_comment(c: api_pb2.Comment) -> str:
    return f"  - [{_STATUS_NAMES[c.status]}] {c.content}  (comment {c.id})"


def format_view(view: api_pb2.PostView) -> str:
    p = view.post
    lines = [f"post {p.id}  {_time(p.created_at)}", f"  {p.title}"]
    if p.body:
        lines.append(f"  {p.body}")
    lines.append(f"  comments: {len(view.comments)}")
    lines += [format_comment(c) for c in view.comments]
    return "\n".join(lines)


def _emit(args: argparse.Namespace, message: Any, text: str) -> None:
    if args.json:
        print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))
    else:
        print(text)


def cmd_post_create(args: argparse.Namespace, client: BlogClient) -> None:
    # A request_id makes gRPC's automatic retry (on UNAVAILABLE) safe: never a second post.
    request = api_pb2.CreatePostRequest(
        title=args.title, body=args.body, request_id=str(uuid.uuid4())
    )
    post = client.posts.CreatePost(request, timeout=args.timeout)
    _emit(args, post, f"created post {post.id}: {post.title}")


def cmd_post_get(args: argparse.Namespace, client: BlogClient) -> None:
    post = client.posts.GetPost(api_pb2.GetPostRequest(id=args.post_id), timeout=args.timeout)
    _emit(args, post, f"post {post.id}  {_time(post.created_at)}\n  {post.title}\n  {post.body}")


def cmd_comment_add(args: argparse.Namespace, client: BlogClient) -> None:
    request = api_pb2.CreateCommentRequest(
        post_id=args.post_id, content=args.content, request_id=str(uuid.uuid4())
    )
    comment = client.comments.CreateComment(request, timeout=args.timeout)
    status = _STATUS_NAMES[comment.status]
    _emit(args, comment, f"comment {comment.id} on post {comment.post_id}: {status}")


def cmd_comment_list(args: argparse.Namespace, client: BlogClient) -> None:
    reply = client.comments.ListComments(
        api_pb2.ListCommentsRequest(post_id=args.post_id), timeout=args.timeout
    )
    text = "\n".join(format_comment(c) for c in reply.comments) or "  (no comments)"
    _emit(args, reply, text)


def cmd_view(args: argparse.Namespace, client: BlogClient) -> None:
    view = client.query.GetPostView(
        api_pb2.GetPostViewRequest(post_id=args.post_id), timeout=args.timeout
    )
    _emit(args, view, format_view(view))


def cmd_list(args: argparse.Namespace, client: BlogClient) -> None:
    reply = client.query.ListPostViews(
        api_pb2.ListPostViewsRequest(page_size=args.page_size, page_token=args.page_token),
        timeout=args.timeout,
    )
    text = "\n".join(format_view(v) for v in reply.views) or "(no posts)"
    if reply.next_page_token:
        text += f"\nmore: lab list --page-token {reply.next_page_token}"
    _emit(args, reply, text)


# --- async operations (bus) -----------------------------------------------------------------
def _bus_url(stack: dict) -> str:
    if "bus" not in stack:
        raise CliError(f"this is a {stack['impl']} stack: it has no bus (use an async stack)")
    return str(stack["bus"]["url"])


async def _with_bus(stack: dict, action: Any) -> Any:
    import nats

    try:
        nc = await nats.connect(_bus_url(stack), connect_timeout=2, max_reconnect_attempts=0)
    except Exception as error:
        raise CliError(f"cannot reach the bus at {_bus_url(stack)}: {error}") from None
    try:
        return await action(nc.jetstream())
    finally:
        await nc.close()


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from async_impl.admin import dead_letters

    stack = load_stack_file(find_stack_file(args.stack))
    letters = asyncio.run(_with_bus(stack, dead_letters))
    if args.json:
        rows = [{k: v for k, v in vars(x).items() if k != "data"} for x in letters]
        print(json.dumps(rows, indent=2))
        return 0
    if not letters:
        print("no dead letters")
    for x in letters:
        print(
            f"#{x.seq} consumer={x.consumer} subject={x.subject} stream_seq={x.original_seq} "
            f"delivered={x.delivered}\n    event: {x.event}\n    reason: {x.reason}"
        )
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from async_impl.admin import replay_dead_letters

    if not args.all and not args.seq:
        raise CliError(
            "name the dead letters to replay (their #numbers from `lab dlq list`) or --all"
        )
    stack = load_stack_file(find_stack_file(args.stack))
    wanted = None if args.all else set(args.seq)
    replayed = asyncio.run(_with_bus(stack, lambda js: replay_dead_letters(js, wanted)))
    for x in replayed:
        print(f"replayed #{x.seq} ({x.event}) to {x.subject}")
    missing = (wanted or set()) - {x.seq for x in replayed}
    if missing:
        print(f"not found in the dead-letter stream: {sorted(missing)}", file=sys.stderr)
        return 1
    print(f"{len(replayed)} dead letter(s) replayed")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from async_impl.admin import wait_caught_up
    from blog.v1 import internal_pb2, internal_pb2_grpc

    stack = load_stack_file(find_stack_file(args.stack))
    _bus_url(stack)
    address = stack["services"]["query"][0]
    with sync_channel(address) as channel:
        reply = internal_pb2_grpc.QueryAdminServiceStub(channel).Rebuild(
            internal_pb2.RebuildRequest(), timeout=args.timeout
        )
    print(f"query read model emptied; replaying the event store up to seq {reply.replay_until_seq}")

    def progress(pending: int, acked: int) -> None:
        print(f"  replayed through seq {acked}, {pending} pending", flush=True)

    done = asyncio.run(
        _with_bus(stack, lambda js: wait_caught_up(js, "query", args.wait, progress))
    )
    if not done:
        raise CliError(f"the query service had not caught up after {args.wait:g}s")
    print("rebuilt: the query service has applied every event in the store")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from lab.rpc.metrics import decode_histogram
    from lab.rpc.metrics import fetch as fetch_metrics

    stack = load_stack_file(find_stack_file(args.stack))
    if args.service not in stack["services"]:
        raise CliError(f"unknown service {args.service!r}")
    for address in stack["services"][args.service]:
        snap = fetch_metrics(address, timeout_s=args.timeout)
        print(f"{args.service} at {address}")
        for name, value in sorted(snap.counters.items()):
            print(f"  {name} = {value}")
        for name, encoded in sorted(snap.histograms.items()):
            h = decode_histogram(encoded)
            p = {q: h.get_value_at_percentile(q) / 1000 for q in (50, 90, 99, 99.9)}
            print(
                f"  {name}: n={h.get_total_count()} p50={p[50]:.2f}ms p90={p[90]:.2f}ms "
                f"p99={p[99]:.2f}ms p99.9={p[99.9]:.2f}ms max={h.get_max_value() / 1000:.2f}ms"
            )
    return 0


# --- lab bench -------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.suite.run import PROFILES, BenchConfig, run_bench, table

    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    unknown = [i for i in impls if i not in TOPOLOGY]
    if unknown or not impls:
        raise CliError(f"--impl: choose from {sorted(TOPOLOGY)}, got {args.impl!r}")
    if args.attach and len(impls) != 1:
        raise CliError("--attach runs against one stack: give one --impl")
    if args.profile not in PROFILES:
        raise CliError(f"--profile: choose from {sorted(PROFILES)}")
    from benchmarks.load.scenarios import SCENARIOS

    scenarios = [s.strip() for s in args.scenario.split(",")] if args.scenario else None
    unknown = [s for s in scenarios or [] if s not in SCENARIOS]
    if unknown:
        raise CliError(f"--scenario: unknown {unknown}; choose from {sorted(SCENARIOS)}")
    if args.rate <= 0 and not args.closed_loop:
        raise CliError("--rate must be positive (or use --closed-loop)")
    config = BenchConfig(
        impls=impls,
        profile=args.profile,
        scenarios=scenarios,
        rate=0.0 if args.closed_loop else args.rate,
        users=args.users,
        generators=args.generators,
        duration_s=args.duration,
        attach=Path(args.attach) if args.attach else None,
        results_dir=Path(args.results_dir),
        seed=args.seed,
        sweep=not args.no_sweep,
    )
    run_dir = run_bench(config)
    print()
    print(table(json.loads((run_dir / "summary.json").read_text())))
    print(f"results: {run_dir}")
    return 0


# --- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab",
        description="The sync-vs-async microservices lab: run a stack of real processes "
        "(PostgreSQL per service, gRPC services) and talk to it.",
        epilog="Typical use: `lab up --impl sync` in one terminal; in another, "
        "`lab post create --title hello`, `lab comment add POST_ID 'nice'`, `lab view POST_ID`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run a whole stack in the foreground until Ctrl-C/SIGTERM",
        description="Start one PostgreSQL server per data-owning service and every service "
        "process, wait until all are healthy, write DATA_DIR/stack.json and print a line "
        "starting with 'ready'. Ctrl-C or SIGTERM stops everything and removes stack.json.",
    )
    up.add_argument("--impl", required=True, choices=sorted(TOPOLOGY), help="implementation")
    up.add_argument(
        "--data-dir",
        type=Path,
        help="where data, logs and stack.json live "
        "(default .lab/IMPL; databases persist across runs)",
    )
    up.add_argument("--fresh", action="store_true", help="delete existing data first")
    up.add_argument(
        "--replicas",
        default="",
        metavar="N|SVC=N,...",
        help="replicas per service, e.g. 2 or posts=2,comments=2 (default 1)",
    )
    up.add_argument(
        "--blocklist", help="comma-separated words moderation rejects (default: orange,spam,scam)"
    )
    up.add_argument(
        "--moderation-delay-ms",
        type=float,
        default=0.0,
        help="artificial cost of each moderation decision (default 0)",
    )
    up.add_argument(
        "--call-timeout-ms",
        type=int,
        help="deadline of each service-to-service call (default 1000)",
    )
    up.set_defaults(handler=cmd_up)

    def client_command(
        parent: Any, name: str, func: Any, help_text: str
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--stack",
            help="stack.json (or its directory) of a running `lab up`; "
            "default: the only one under .lab/",
        )
        p.add_argument("--json", action="store_true", help="print the reply as JSON")
        p.add_argument(
            "--timeout",
            type=float,
            default=CLIENT_TIMEOUT_S,
            help=f"deadline in seconds (default {CLIENT_TIMEOUT_S:g})",
        )
        p.set_defaults(client=func)
        return p

    post = sub.add_parser("post", help="create or read posts").add_subparsers(
        dest="post_command", required=True, metavar="ACTION"
    )
    p = client_command(post, "create", cmd_post_create, "create a post")
    p.add_argument("--title", required=True)
    p.add_argument("--body", default="")
    p = client_command(post, "get", cmd_post_get, "show one post")
    p.add_argument("post_id")

    comment = sub.add_parser("comment", help="add or list comments").add_subparsers(
        dest="comment_command", required=True, metavar="ACTION"
    )
    p = client_command(comment, "add", cmd_comment_add, "comment on a post")
    p.add_argument("post_id")
    p.add_argument("content")
    p = client_command(comment, "list", cmd_comment_list, "list a post's comments")
    p.add_argument("post_id")

    p = client_command(sub, "view", cmd_view, "a post with its comments (query service)")
    p.add_argument("post_id")
    p = client_command(sub, "list", cmd_list, "posts with their comments, newest first")
    p.add_argument("--page-size", type=int, default=10)
    p.add_argument("--page-token", default="")

    def admin_command(parent: Any, name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = client_command(parent, name, func, help_text)
        p.set_defaults(client=None, handler=func)
        return p

    p = admin_command(
        sub, "metrics", cmd_metrics, "counters and latency histograms a service records"
    )
    p.add_argument("service", choices=["posts", "comments", "moderation", "query"])
    dlq = sub.add_parser("dlq", help="dead letters of the async stack").add_subparsers(
        dest="dlq_command", required=True, metavar="ACTION"
    )
    admin_command(dlq, "list", cmd_dlq_list, "list events consumers gave up on, with the reason")
    p = admin_command(
        dlq, "replay", cmd_dlq_replay, "publish dead letters again (after fixing the cause)"
    )
    p.add_argument("seq", nargs="*", type=int, help="#numbers from `lab dlq list`")
    p.add_argument("--all", action="store_true", help="replay every dead letter")
    rebuild = sub.add_parser("rebuild", help="rebuild a read model (async)").add_subparsers(
        dest="rebuild_command", required=True, metavar="SERVICE"
    )
    p = admin_command(
        rebuild,
        "query",
        cmd_rebuild,
        "empty the query service's read model and replay the event store into it",
    )
    p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for catch-up")

    bench = sub.add_parser(
        "bench",
        help="run the benchmark suite; write results/<run-id>/",
        description="For each implementation: start its stack (unless --attach), seed data, "
        "measure the floor (bare gRPC hop, JetStream publish, INSERT+COMMIT), run each "
        "scenario under Locust in open loop (latency from the scheduled start, HDR "
        "histograms), sweep the offered rate for the capacity at the SLO (p99 <= 50 ms, "
        "errors <= 0.1%) of the implementation and of a bare chain of the same shape, "
        "sample cost, and write raw data, meta.json and summary.json.",
    )
    bench.add_argument("--impl", default="sync,async", help="sync, async or sync,async")
    bench.add_argument("--profile", default="quick", help="smoke (CI), quick (default), full")
    bench.add_argument(
        "--scenario", help="read_heavy,write_heavy,mixed,read_your_writes (default: the profile's)"
    )
    bench.add_argument(
        "--rate", type=float, default=50.0, help="open-loop offered rate, requests/s (default 50)"
    )
    bench.add_argument(
        "--closed-loop",
        action="store_true",
        help="Locust's closed loop (users with think time) instead of open loop",
    )
    bench.add_argument(
        "--users",
        type=int,
        default=0,
        help="Locust users (default: rate/10, at least 5; closed loop: 10)",
    )
    bench.add_argument("--duration", type=float, help="measured seconds per scenario run")
    bench.add_argument(
        "--generators",
        type=int,
        default=0,
        help="Locust processes (distributed mode); default 1, 2 from 300 req/s",
    )
    bench.add_argument("--attach", help="stack.json of a running `lab up` (one --impl)")
    bench.add_argument("--no-sweep", action="store_true", help="skip the capacity sweep")
    bench.add_argument("--seed", type=int, default=1, help="random seed (recorded in meta.json)")
    bench.add_argument("--results-dir", default="results", help="where runs are written")
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "client", None):
            args.client(args, BlogClient.from_stack_file(find_stack_file(args.stack)))
            return 0
        return int(args.handler(args))
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        print(f"error: {code.name}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
