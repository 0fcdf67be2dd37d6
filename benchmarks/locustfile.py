"""Locust load for the lab: gRPC users built the way Locust documents for other protocols.

Run by `lab bench`, or by hand against a running stack (with Locust's web UI):
    .venv/bin/locust -f benchmarks/locustfile.py --lab-stack .lab/sync/stack.json
Closed loop (Locust's own model) by default; `--lab-rate R` switches to open loop: each user
gets a fixed schedule (R / users per second) and latency counts from the scheduled start.
The lab records its own latencies in HDR histograms (us) and writes them, per process, to
--lab-out at the end; Locust's statistics (rounded to whole ms under 100 ms) are a cross-check.

Without --lab-seed-file (`lab bench` always gives one) each generator process creates its own
posts at test start (--lab-seed-posts). A failure of the generator itself (GENERATOR_<exception>)
or a probe's TIMEOUT is reported to Locust as a failure of the operation, so whatever the lab
counts is also in what Locust shows. --lab-request-log DIR writes one JSON line per request
(benchmarks/load/request_log.py) to DIR/requests-<pid>.jsonl, for chaos experiments.

Here: the lab's options, the test's life cycle and the user's task. Elsewhere: the gRPC user
(benchmarks/load/grpc_user.py), this process's measurements (benchmarks/load/recorder.py) and
its request log (benchmarks/load/request_logger.py).
"""

# gevent must patch grpc before any channel exists (Locust's gRPC example does this first).
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import grpc  # noqa: E402
from locust import between, events, task  # noqa: E402
from locust.runners import MasterRunner  # noqa: E402

from benchmarks.load.grpc_user import GrpcUser  # noqa: E402
from benchmarks.load.openloop import Schedule  # noqa: E402
from benchmarks.load.recorder import Recorder  # noqa: E402
from benchmarks.load.request_log import OK  # noqa: E402
from benchmarks.load.request_logger import RequestLogger  # noqa: E402
from benchmarks.load.scenarios import (  # noqa: E402
    FROM_RECENT,
    NOTHING,
    OPERATIONS,
    RECENT_POSTS,
    SCENARIOS,
    Context,
    Mix,
    Stubs,
    seed_posts,
)
from blog.rpc.channels import channel_options, grpc_target  # noqa: E402
from blog.v1 import api_pb2_grpc  # noqa: E402

logger = logging.getLogger(__name__)


@events.init_command_line_parser.add_listener
def _lab_options(parser: Any) -> None:
    lab = parser.add_argument_group("lab")
    lab.add_argument(
        "--lab-stack",
        default=os.environ.get("LAB_STACK", ""),
        help="stack.json of the stack under test",
    )
    lab.add_argument("--lab-scenario", default="mixed", help=f"one of {', '.join(SCENARIOS)}")
    lab.add_argument(
        "--lab-rate",
        type=float,
        default=0.0,
        help="open loop: total requests/s over all users (0: closed loop)",
    )
    lab.add_argument(
        "--lab-think-ms",
        type=float,
        default=100.0,
        help="closed loop: mean think time between a user's requests",
    )
    lab.add_argument("--lab-seed-file", default="", help="JSON list of post ids to read")
    lab.add_argument(
        "--lab-seed-posts",
        type=int,
        default=20,
        help="without --lab-seed-file: posts each generator process creates at test start",
    )
    lab.add_argument("--lab-seed", type=int, default=1, help="random seed")
    lab.add_argument(
        "--lab-warmup-s",
        type=float,
        default=0.0,
        help="requests scheduled in the first seconds are not recorded",
    )
    lab.add_argument("--lab-out", default="", help="directory for this process's HDR data")
    lab.add_argument(
        "--lab-bare",
        default="",
        help="routes JSON of a bare chain: run its plans instead of the blog API",
    )
    lab.add_argument(
        "--lab-request-log",
        default="",
        help="directory: one JSON line per request to requests-<pid>.jsonl (warm-up included)",
    )


RECORDER = Recorder()
REQUEST_LOG = RequestLogger()

# This process's posts: the seeded ones, and the newest it created (shared by its users).
_SEEDED: list[str] = []
_CREATED: deque[tuple[str, float]] = deque(maxlen=RECENT_POSTS)


def _seed(options: Any) -> None:
    """The posts operations pick from: --lab-seed-file, or (without one) posts this process
    creates now, through the public API, and waits for (bounded) until every service knows."""
    if _SEEDED or options.lab_bare:
        return
    if options.lab_seed_file:
        _SEEDED.extend(json.loads(Path(options.lab_seed_file).read_text()))
        return
    if not options.lab_stack or options.lab_seed_posts <= 0:
        return
    services = json.loads(Path(options.lab_stack).read_text())["services"]
    channels = [
        grpc.insecure_channel(grpc_target(services[s]), options=channel_options())
        for s in ("posts", "comments", "query")
    ]
    stubs = Stubs(
        api_pb2_grpc.PostServiceStub(channels[0]),
        api_pb2_grpc.CommentServiceStub(channels[1]),
        api_pb2_grpc.QueryServiceStub(channels[2]),
    )
    try:
        ids, everywhere = seed_posts(stubs, options.lab_seed_posts)
    except grpc.RpcError as error:
        logger.error(
            "could not create seed posts (%s: %s); operations on a post will fail",
            error.code().name,  # type: ignore[attr-defined]
            error.details(),  # type: ignore[attr-defined]
        )
        return
    finally:
        for channel in channels:
            channel.close()
    _SEEDED.extend(ids)
    if everywhere:
        logger.info("created %d seed posts (no --lab-seed-file)", len(ids))
    else:
        logger.warning("created %d seed posts, not yet known to every service", len(ids))


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if not isinstance(environment.runner, MasterRunner):  # the master runs no users
        _seed(options)
        REQUEST_LOG.start(options.lab_request_log)
    RECORDER.t0 = time.monotonic()
    RECORDER.warmup_s = environment.parsed_options.lab_warmup_s

    gevent.spawn(RECORDER.sample_cpu)


@events.test_stop.add_listener
def _stop(environment: Any, **_: Any) -> None:
    RECORDER.dump(environment.parsed_options.lab_out)
    REQUEST_LOG.flush()


@events.quit.add_listener
def _quit(**_: Any) -> None:
    REQUEST_LOG.close()


class GeneratorError(Exception):
    """A failure of the generator itself (a bug), as Locust shows it: GENERATOR_<exception>."""


class BlogUser(GrpcUser):
    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        rng = random.Random(options.lab_seed * 1_000_003 + id(self) % 1_000_003)
        self.ctx = Context(
            self.stubs,
            _SEEDED,
            rng,
            extra=RECORDER.add_extra,
            count=lambda name: RECORDER.counters.update([name]),
            created=_CREATED,
            from_recent=options.lab_scenario in FROM_RECENT,
        )
        self.mix = Mix(options.lab_scenario, rng)
        users = max(1, environment.parsed_options.num_users or 1)
        self.schedule = (
            Schedule(options.lab_rate / users, time.monotonic(), poisson=True, rng=rng)
            if options.lab_rate > 0
            else None
        )
        think = options.lab_think_ms / 1000
        self._closed_wait = between(0.5 * think, 1.5 * think)

    def wait_time(self) -> float:
        if self.schedule is None:
            return self._closed_wait(self)
        return max(0.0, self.schedule.peek() - time.monotonic())

    @task
    def step(self) -> None:
        scheduled = self.schedule.next_start() if self.schedule else time.monotonic()
        # Never before its scheduled start: Locust runs a user's first task at once (before any
        # wait_time), and a timer may wake a little early.
        while (early := scheduled - time.monotonic()) > 0:
            gevent.sleep(early)
        if REQUEST_LOG.draining:
            return  # the experiment is ending: no request may start without being logged
        op = self.mix.draw()
        self.ctx.sent = outcome = NOTHING
        REQUEST_LOG.in_flight += 1
        unseen: Exception | None = None  # a failure no gRPC call showed to Locust
        sent = time.monotonic()
        error = None
        try:
            if self.bare:
                call, plan = self.bare[op]
                call(plan, timeout=5)
            else:
                outcome = OPERATIONS[op](self.ctx)
        except grpc.RpcError as failure:
            error = failure.code().name  # type: ignore[attr-defined]
        except TimeoutError as failure:
            error = "TIMEOUT"
            unseen = failure
        except Exception as failure:  # a bug in the generator: counted, never silently lost
            error = f"GENERATOR_{type(failure).__name__}"
            unseen = GeneratorError(f"{error}: {failure}")
            _log_first(error, failure)
        done = time.monotonic()
        RECORDER.add(op, scheduled, sent, done, error)
        if error is not None:
            outcome = self.ctx.sent  # what was sent before the failure (a write's request id)
        REQUEST_LOG.add(op, scheduled, done, error or OK, outcome)
        REQUEST_LOG.in_flight -= 1
        if unseen is not None:
            self.environment.events.request.fire(
                request_type="grpc",
                name=op,
                response_time=(done - sent) * 1000,
                response_length=0,
                response=None,
                context=None,
                exception=unseen,
            )


_LOGGED: set[str] = set()


def _log_first(error: str, failure: Exception) -> None:
    """The traceback of each kind of generator failure, once per process."""
    if error not in _LOGGED:
        _LOGGED.add(error)
        logger.error("generator failure %s", error, exc_info=failure)
