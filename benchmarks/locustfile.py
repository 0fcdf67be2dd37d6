"""Locust load for the lab: gRPC users built the way Locust documents for other protocols.

Run by `lab bench`, or by hand against a running stack (with Locust's web UI):
    .venv/bin/locust -f benchmarks/locustfile.py --lab-stack .lab/sync/stack.json
Closed loop (Locust's own model) by default; `--lab-rate R` (or `--lab-rate-steps`) switches to
open loop: each user runs a dispatcher (benchmarks/load/dispatcher.py) that sends its share of
Poisson arrivals (R / users per second), each request in its own greenlet, whatever earlier
requests are doing, so one operation's slow answers cannot delay another's start; latency
counts from the scheduled start. `lab bench` runs one such user per generator process, and a
run ends when every dispatcher has finished its schedule and drained its requests in flight.
The lab records its own latencies in HDR histograms (us) and writes them, per process, to
--lab-out at the end; Locust's statistics (rounded to whole ms under 100 ms) are a cross-check.

Without --lab-seed-file (`lab bench` always gives one) each generator process creates its own
posts at test start (--lab-seed-posts). A failure of the generator itself (GENERATOR_<exception>)
or a probe's TIMEOUT is reported to Locust as a failure of the operation, so whatever the lab
counts is also in what Locust shows. --lab-request-log DIR writes one JSON line per request
(benchmarks/load/request_log.py) to DIR/requests-<pid>.jsonl, for chaos experiments.

The web UI's Host field and header read `stack:PATH` (from --lab-stack): the stack the users drive,
which names every service (benchmarks/load/grpc_user.py).

Here: the lab's options, the test's life cycle and the user's tasks. Elsewhere: the gRPC user
(benchmarks/load/grpc_user.py), the arrivals (benchmarks/load/openloop.py) and their dispatcher,
this process's measurements (benchmarks/load/recorder.py) and its request log
(benchmarks/load/request_log.py).
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
from dataclasses import replace  # noqa: E402
from itertools import takewhile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import grpc  # noqa: E402
from locust import between, events, task  # noqa: E402
from locust.runners import LocalRunner, MasterRunner, WorkerRunner  # noqa: E402

from benchmarks.load.dispatcher import Dispatcher  # noqa: E402
from benchmarks.load.grpc_user import (  # noqa: E402
    GrpcUser,
    stack_file,
    stack_host,
    start_client_tracing,
    stop_client_tracing,
)
from benchmarks.load.openloop import RateProfile, arrivals, live_arrivals  # noqa: E402
from benchmarks.load.recorder import Recorder  # noqa: E402
from benchmarks.load.request_log import RequestLogger, RequestRecord, answered  # noqa: E402
from benchmarks.load.scenarios import (  # noqa: E402
    FROM_RECENT,
    NOTHING,
    OPERATIONS,
    RECENT_POSTS,
    SCENARIOS,
    TIMEOUT_S,
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
        "--lab-rate-steps",
        default="",
        help="open loop with a rate that changes: AT_S:RATE,AT_S:RATE,... (total over all "
        "users, seconds from the start; e.g. 0:100,30:400,75:100); overrides --lab-rate",
    )
    lab.add_argument(
        "--lab-rate-file",
        default="",
        help="open loop with a rate set from outside: the file holds the total rate (over all "
        "users), read every 0.1 s; writing another rate changes the load at once (the "
        "overload experiment's spike); overrides --lab-rate and --lab-rate-steps",
    )
    lab.add_argument(
        "--lab-duration-s",
        type=float,
        default=0.0,
        help="open loop: the schedule's length after the warm-up (0: until Locust stops); at "
        "its end no request starts, the ones in flight are waited for, and the run ends",
    )
    lab.add_argument(
        "--lab-max-in-flight",
        type=int,
        default=0,
        help="open loop: requests in flight at most per user; an arrival beyond it is not sent "
        "and counted as GENERATOR_OVERFLOW (0: enough for every request to wait its deadline)",
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
        "--lab-trace-sample",
        type=float,
        default=0.0,
        help="start a trace at this share of calls (a CLIENT span; 0: off)",
    )
    lab.add_argument(
        "--lab-trace-dir", default="", help="directory of this process's OTLP JSON trace file"
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


@events.init.add_listener
def _show_stack(environment: Any, **_: Any) -> None:
    """The users' Host is the stack they drive (`stack:PATH`), so that the web UI shows it in its
    Host field and header instead of asking for a host that means nothing here."""
    options = environment.parsed_options
    if options is None or not options.lab_stack:
        return
    for user_class in environment.user_classes:
        if issubclass(user_class, GrpcUser) and not user_class.host:
            user_class.host = stack_host(options.lab_stack)


def _seed(options: Any, stack: str) -> None:
    """The posts operations pick from: --lab-seed-file, or (without one) posts this process
    creates now in `stack`, through the public API, and waits for (bounded) until every service
    knows."""
    if _SEEDED or options.lab_bare:
        return
    if options.lab_seed_file:
        _SEEDED.extend(json.loads(Path(options.lab_seed_file).read_text()))
        return
    if not stack or options.lab_seed_posts <= 0:
        return
    services = json.loads(Path(stack).read_text())["services"]
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


MEASURING_FILE = "measuring-{pid}"  # in --lab-out: written when this process's warm-up ends
DONE_MESSAGE = "lab_done"  # worker -> master: my dispatcher finished and drained


class RateFile:
    """The total rate, as written in --lab-rate-file by whoever drives the load (read by a
    greenlet every 0.1 s; a file being rewritten keeps the last rate read)."""

    def __init__(self, path: str, initial: float) -> None:
        self.path = Path(path)
        self.rate = initial
        gevent.spawn(self._watch)

    def _watch(self) -> None:
        while True:
            try:
                self.rate = float(self.path.read_text().strip())
            except (OSError, ValueError):
                pass
            gevent.sleep(0.1)


RATE_FILE: RateFile | None = None


def _open_loop(options: Any) -> RateProfile | None:
    """The open-loop profile of the whole generator (all users), or None (closed loop)."""
    end = options.lab_warmup_s + options.lab_duration_s if options.lab_duration_s > 0 else None
    if options.lab_rate_file:  # a constant profile stands for it; its rate is read live
        return RateProfile.constant(options.lab_rate or 1.0, end)
    if options.lab_rate_steps:
        return RateProfile.parse(options.lab_rate_steps, end)
    if options.lab_rate > 0:
        return RateProfile.constant(options.lab_rate, end)
    return None


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    """The master ends the run once every worker's dispatcher has finished (each says so)."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        done: set[str] = set()

        # Locust calls a message's listener with keywords (environment=, msg=).
        def worker_done(msg: Any, **__: Any) -> None:
            done.add(str(msg.data["worker"]))
            if len(done) >= max(1, runner.worker_count):
                gevent.spawn(runner.quit)

        runner.register_message(DONE_MESSAGE, worker_done)


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if not isinstance(environment.runner, MasterRunner):  # the master runs no users
        allow_concurrent_calls(max(1, options.num_users or 1))  # closed loop: one call each
        start_client_tracing(options, stack_file(environment))  # before any user's channel
        _seed(options, stack_file(environment))
        REQUEST_LOG.start(options.lab_request_log)
        gevent.spawn(_announce_measuring, options)
    RECORDER.t0 = time.monotonic()
    RECORDER.warmup_s = environment.parsed_options.lab_warmup_s
    RECORDER.duration_s = environment.parsed_options.lab_duration_s

    gevent.spawn(RECORDER.sample_cpu)


def _announce_measuring(options: Any) -> None:
    """At the end of the warm-up, say so in --lab-out (the suite resets the services' own
    histograms then, so theirs cover the measured window too)."""
    gevent.sleep(options.lab_warmup_s)
    if options.lab_out:
        out = Path(options.lab_out)
        out.mkdir(parents=True, exist_ok=True)
        (out / MEASURING_FILE.format(pid=os.getpid())).touch()


@events.test_stop.add_listener
def _stop(environment: Any, **_: Any) -> None:
    RECORDER.dump(environment.parsed_options.lab_out)
    REQUEST_LOG.flush()


@events.quit.add_listener
def _quit(**_: Any) -> None:
    REQUEST_LOG.close()
    stop_client_tracing()


class GeneratorError(Exception):
    """A failure of the generator itself (a bug), as Locust shows it: GENERATOR_<exception>."""


class BlogUser(GrpcUser):
    """Open loop: one dispatcher per user sending its share of the arrivals (the `run` task);
    closed loop: one request at a time with think time between them (Locust's model)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.rng = random.Random(options.lab_seed * 1_000_003 + id(self) % 1_000_003)
        self.ctx = Context(
            self.stubs,
            _SEEDED,
            self.rng,
            extra=RECORDER.add_extra,
            count=lambda name: RECORDER.counters.update([name]),
            created=_CREATED,
            from_recent=options.lab_scenario in FROM_RECENT,
        )
        self.mix = Mix(options.lab_scenario, self.rng)
        users = max(1, environment.parsed_options.num_users or 1)
        profile = _open_loop(options)
        self.profile = profile.scaled(1 / users) if profile else None
        think = options.lab_think_ms / 1000
        self._closed_wait = between(0.5 * think, 1.5 * think)
        self.finished = False
        self.dispatcher: Dispatcher | None = None

    def on_stop(self) -> None:
        """Locust stops this user (its time limit, or a stop from the UI): the requests it has
        in flight finish, each within its deadline, before its channels close under them."""
        if self.dispatcher is not None:
            REQUEST_LOG.draining = True  # nothing new starts
            self.dispatcher.pool.join(timeout=TIMEOUT_S + 1.0)
        super().on_stop()

    def wait_time(self) -> float:
        return 3600.0 if self.profile else self._closed_wait(self)

    @task
    def step(self) -> None:
        if self.profile is None:
            if not REQUEST_LOG.draining:
                self.request(time.monotonic())
            return
        if self.finished:  # the schedule is over: idle until the run ends
            gevent.sleep(1.0)
            return
        self.run_schedule(self.profile)

    def run_schedule(self, profile: RateProfile) -> None:
        """Send the profile's arrivals (open loop), drain, then tell the runner this user is
        done (the run ends when every user is)."""
        options = self.environment.parsed_options
        limit = options.lab_max_in_flight or int(
            min(MAX_IN_FLIGHT, max(100.0, max(s.rate for s in profile.steps) * (TIMEOUT_S + 1)))
        )
        allow_concurrent_calls(limit * max(1, self.environment.runner.user_count))
        self.dispatcher = dispatcher = Dispatcher(
            self.request,
            max_in_flight=limit,
            on_overflow=self.overflowed,
            stopping=lambda: REQUEST_LOG.draining,
        )
        RECORDER.in_flight = lambda: dispatcher.in_flight
        start = time.monotonic()
        users = max(1, options.num_users or 1)  # every process's users: the rate is shared
        if options.lab_rate_file:
            global RATE_FILE
            RATE_FILE = RATE_FILE or RateFile(options.lab_rate_file, options.lab_rate)
            rate_file = RATE_FILE
            live = live_arrivals(lambda: rate_file.rate / users, self.rng)
            end = profile.end_s if profile.end_s is not None else float("inf")
            times = (start + t for t in takewhile(lambda t: t < end, live))
        else:
            times = (start + t for t in arrivals(profile, self.rng))
        drained = dispatcher.run(times, drain_s=TIMEOUT_S + 1.0)
        if not drained:
            logger.warning("requests still in flight %.0f s after the schedule", TIMEOUT_S + 1)
        RECORDER.counters.update({"generator_overflow": dispatcher.overflowed})
        self.finished = True
        if profile.end_s is not None:
            self._done()

    def _done(self) -> None:
        """Once every user of this process has finished: a worker tells the master, a single
        process ends the run (in a greenlet of its own: quitting stops this user too)."""
        global _FINISHED_USERS
        _FINISHED_USERS += 1
        runner = self.environment.runner
        if _FINISHED_USERS < runner.user_count:
            return
        if isinstance(runner, WorkerRunner):
            runner.send_message(DONE_MESSAGE, {"worker": runner.client_id})
        elif isinstance(runner, LocalRunner):
            gevent.spawn(runner.quit)

    def overflowed(self, scheduled: float) -> None:
        """An arrival the in-flight bound kept from being sent: counted and logged like any."""
        RECORDER.arrival(scheduled)
        op = self.mix.draw()
        RECORDER.add(op, scheduled, None, scheduled, OVERFLOW)
        REQUEST_LOG.add(RequestRecord(op, scheduled, scheduled, OVERFLOW))

    def request(self, scheduled: float) -> None:
        """One request of the mix, scheduled at `scheduled` (monotonic): sent now, timed from
        its schedule, recorded, logged."""
        # Never before its scheduled start (a timer may wake a little early).
        while (early := scheduled - time.monotonic()) > 0:
            gevent.sleep(early)
        if self.profile is not None:
            RECORDER.arrival(scheduled)
        op = self.mix.draw()
        ctx = replace(self.ctx, sent=NOTHING)  # this request's own scratch (greenlets overlap)
        outcome = NOTHING
        REQUEST_LOG.in_flight += 1
        unseen: Exception | None = None  # a failure no gRPC call showed to Locust
        sent = time.monotonic()
        error = None
        try:
            if self.bare:
                call, plan = self.bare[op]
                call(plan, timeout=TIMEOUT_S)
            else:
                outcome = OPERATIONS[op](ctx)
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
        RECORDER.add(op, scheduled, sent, done, error, partial=outcome.partial)
        if error is not None:
            outcome = ctx.sent  # what was sent before the failure (a write's request id)
        REQUEST_LOG.add(
            RequestRecord(
                op,
                scheduled,
                done,
                error or answered(outcome.partial),
                outcome.request_id,
                outcome.id,
                outcome.post_id,
                sent,
            )
        )
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


OVERFLOW = "GENERATOR_OVERFLOW"
# The default bound on one user's requests in flight: every request of a rate of up to ~170/s
# could wait out its 5 s deadline at once. Each blocked call holds a thread (below).
MAX_IN_FLIGHT = 1000


def allow_concurrent_calls(calls: int) -> None:
    """Let `calls` blocking gRPC calls wait at once. Under gevent, grpc waits for each call's
    completion on a thread of gevent's hub threadpool, which holds 10 threads by default: an
    eleventh call in flight waited for a free thread, so a few slow calls delayed every other
    one (measured: a 1 ms call took 0.9 s behind thirty 1 s calls; 1.2 ms with 100 threads)."""
    threadpool = gevent.get_hub().threadpool
    threadpool.maxsize = max(threadpool.maxsize, calls + 20)


_FINISHED_USERS = 0  # users of this process whose schedule is over
_LOGGED: set[str] = set()


def _log_first(error: str, failure: Exception) -> None:
    """The traceback of each kind of generator failure, once per process."""
    if error not in _LOGGED:
        _LOGGED.add(error)
        logger.error("generator failure %s", error, exc_info=failure)
