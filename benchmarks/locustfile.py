"""Locust load for the lab: gRPC users built the way Locust documents for other protocols.

Run by `lab bench`, or by hand against a running stack (with Locust's web UI):
    .venv/bin/locust -f benchmarks/locustfile.py --lab-stack .lab/sync/stack.json
Closed loop (Locust's own model) by default; `--lab-rate R` switches to open loop: each user
gets a fixed schedule (R / users per second) and latency counts from the scheduled start.
The lab records its own latencies in HDR histograms (us) and writes them, per process, to
--lab-out at the end; Locust's statistics (rounded to whole ms under 100 ms) are a cross-check.
"""

# gevent must patch grpc before any channel exists (Locust's gRPC example does this first).
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import grpc  # noqa: E402
import psutil  # noqa: E402
from locust import User, between, events, task  # noqa: E402
from locust.exception import LocustError  # noqa: E402

from benchmarks.floor.bare_chain import METHOD as BARE_METHOD  # noqa: E402
from benchmarks.load.hdr import new_histogram, record  # noqa: E402
from benchmarks.load.openloop import Schedule  # noqa: E402
from benchmarks.load.scenarios import OPERATIONS, Context, Mix, Stubs  # noqa: E402
from blog.v1 import api_pb2_grpc  # noqa: E402
from lab.rpc.channels import channel_options, grpc_target  # noqa: E402


@events.init_command_line_parser.add_listener
def _lab_options(parser: Any) -> None:
    lab = parser.add_argument_group("lab")
    lab.add_argument(
        "--lab-stack",
        default=os.environ.get("LAB_STACK", ""),
        help="stack.json of the stack under test",
    )
    lab.add_argument(
        "--lab-scenario", default="mixed", help="read_heavy, write_heavy, mixed or read_your_writes"
    )
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


class Recorder:
    """This process's measurements: per operation, corrected and service-time histograms."""

    def __init__(self) -> None:
        self.corrected: dict[str, Any] = {}
        self.service: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.ok: Counter[str] = Counter()
        self.errors: dict[str, Counter[str]] = {}
        self.counters: Counter[str] = Counter()
        self.cpu_samples: list[float] = []
        self.t0 = time.monotonic()
        self.warmup_s = 0.0
        self.first: float | None = None
        self.last: float | None = None

    def measuring(self, scheduled: float) -> bool:
        return scheduled >= self.t0 + self.warmup_s

    def add(self, op: str, scheduled: float, sent: float, done: float, error: str | None) -> None:
        if not self.measuring(scheduled):
            return
        self.first = scheduled if self.first is None else min(self.first, scheduled)
        self.last = scheduled if self.last is None else max(self.last, scheduled)
        if error:
            self.errors.setdefault(op, Counter())[error] += 1
            return
        self.ok[op] += 1
        record(self.corrected.setdefault(op, new_histogram()), (done - scheduled) * 1e6)
        record(self.service.setdefault(op, new_histogram()), (done - sent) * 1e6)

    def add_extra(self, name: str, value_us: float) -> None:
        record(self.extra.setdefault(name, new_histogram()), value_us)

    def dump(self, directory: str) -> None:
        if not directory or not (self.ok or self.errors):
            return
        data = {
            "pid": os.getpid(),
            "ops": {
                op: {
                    "ok": self.ok[op],
                    "errors": dict(self.errors.get(op, {})),
                    "corrected": self.corrected[op].encode().decode()
                    if op in self.corrected
                    else "",
                    "service": self.service[op].encode().decode() if op in self.service else "",
                }
                for op in set(self.ok) | set(self.errors)
            },
            "extra": {name: h.encode().decode() for name, h in self.extra.items()},
            "counters": dict(self.counters),
            "cpu_percent": self.cpu_samples,
            "window_s": (
                [self.first - self.t0, self.last - self.t0]
                if self.first is not None and self.last is not None
                else None
            ),
        }
        path = Path(directory) / f"generator-{os.getpid()}.json"
        path.write_text(json.dumps(data))


RECORDER = Recorder()


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    RECORDER.t0 = time.monotonic()
    RECORDER.warmup_s = environment.parsed_options.lab_warmup_s

    def sample_cpu() -> None:
        me = psutil.Process()
        me.cpu_percent(None)
        while True:
            gevent.sleep(1.0)
            RECORDER.cpu_samples.append(me.cpu_percent(None))

    gevent.spawn(sample_cpu)


@events.test_stop.add_listener
def _stop(environment: Any, **_: Any) -> None:
    RECORDER.dump(environment.parsed_options.lab_out)


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fires Locust's request event for every call (Locust's own statistics)."""

    def __init__(self, environment: Any) -> None:
        self.env = environment

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        exception = None
        length = 0
        start = time.perf_counter()
        response = continuation(details, request)
        try:
            result = response.result()
            length = len(result) if isinstance(result, bytes) else result.ByteSize()
        except grpc.RpcError as error:
            exception = error
        self.env.events.request.fire(
            request_type="grpc",
            name=details.method.rsplit("/", 1)[-1],
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            response=None,
            context=None,
            exception=exception,
        )
        return response


class GrpcUser(User):
    """An abstract Locust user with the blog's stubs on one channel (its 'connection')."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        if not options.lab_stack:
            raise LocustError("--lab-stack (or LAB_STACK) must name a stack.json")
        services = json.loads(Path(options.lab_stack).read_text())["services"]

        def channel(service: str, addresses: Any = None) -> grpc.Channel:
            target = grpc_target(addresses or services[service])
            return grpc.intercept_channel(
                grpc.insecure_channel(target, options=channel_options()),
                LocustInterceptor(environment),
            )

        self.bare: dict[str, Any] = {}
        if options.lab_bare:  # a bare chain: one generic call per operation, its plan as body
            routes = json.loads(Path(options.lab_bare).read_text())
            for op, (role, plan) in routes["plans"].items():
                step = channel(role, routes["addresses"][role]).unary_unary(BARE_METHOD)
                self.bare[op] = (step, json.dumps(plan).encode())

        self.channels = [channel("posts"), channel("comments"), channel("query")]
        self.stubs = Stubs(
            api_pb2_grpc.PostServiceStub(self.channels[0]),
            api_pb2_grpc.CommentServiceStub(self.channels[1]),
            api_pb2_grpc.QueryServiceStub(self.channels[2]),
        )

    def on_stop(self) -> None:
        for channel in self.channels:
            channel.close()


_SEEDED: list[str] = []


class BlogUser(GrpcUser):
    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        if options.lab_seed_file and not _SEEDED:
            _SEEDED.extend(json.loads(Path(options.lab_seed_file).read_text()))
        rng = random.Random(options.lab_seed * 1_000_003 + id(self) % 1_000_003)
        self.ctx = Context(
            self.stubs,
            _SEEDED,
            rng,
            extra=RECORDER.add_extra,
            count=lambda name: RECORDER.counters.update([name]),
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
        op = self.mix.draw()
        sent = time.monotonic()
        error = None
        try:
            if self.bare:
                call, plan = self.bare[op]
                call(plan, timeout=5)
            else:
                OPERATIONS[op](self.ctx)
        except grpc.RpcError as failure:
            error = failure.code().name  # type: ignore[attr-defined]
        except TimeoutError:
            error = "TIMEOUT"
        except Exception as failure:  # a bug in the generator: counted, never silently lost
            error = f"GENERATOR_{type(failure).__name__}"
        RECORDER.add(op, scheduled, sent, time.monotonic(), error)
