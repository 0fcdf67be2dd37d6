"""The asyncio generator: open-loop Poisson arrivals sent on grpc.aio channels from one event
loop, for loads the Locust generator cannot keep on a small machine (the overload experiment's
spike; docs/METHOD.md, Overload).

Why a second generator: Locust runs each blocking gRPC call under gevent on a thread of the
hub's threadpool, so a spike with hundreds of calls in flight holds hundreds of threads, and
the process falls behind its own schedule by 0.5-1.5 s while using ~25 % of a core (the
overload run 20261207T035252Z: 3 processes at 650/s). Here a call in flight is a coroutine.

It makes the same calls as the Locust generator (benchmarks/load/scenarios.py, `CALLS`), reads
its rate from the same file (lab.chaos.actions.set_rate writes it), and writes the same request
log (benchmarks/load/request_log.py) with the same drain: once DIR/stop exists no request
starts, and when none is in flight the log is flushed and DIR/drained-<pid> written. It ends
after --max-s, on SIGTERM or SIGINT (drained first), or once drained.

    python -m benchmarks.load.aio_generator --stack .lab/sync/stack.json \\
        --seed-file posts.json --rate 100 --request-log out/requests --max-s 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc

from benchmarks.load.openloop import live_arrivals
from benchmarks.load.request_log import (
    DRAINED_FILE,
    STOP_FILE,
    RequestLog,
    RequestRecord,
    answered,
)
from benchmarks.load.scenarios import (
    CALLS,
    FROM_RECENT,
    NOTHING,
    RECENT_POSTS,
    SCENARIOS,
    TIMEOUT_S,
    Context,
    Mix,
    Outcome,
    Stubs,
)
from blog.rpc.channels import channel_options, grpc_target
from blog.v1 import api_pb2_grpc

OVERFLOW = "GENERATOR_OVERFLOW"  # an arrival the in-flight bound kept from being sent
FLUSH_EVERY_S = 0.5
RATE_EVERY_S = 0.1  # how often the rate file is read
MAX_IN_FLIGHT = 4000  # default bound: ~650/s could wait out its 5 s deadline at once


@dataclass
class Options:
    """What one generator process is asked to do (its command line, parsed)."""

    stack: Path
    seed_file: Path
    request_log: Path
    rate: float  # requests/s of this process, until the rate file says otherwise
    max_s: float
    rate_file: Path | None = None
    share: float = 1.0  # this process's share of the rate in the rate file
    scenario: str = "chaos"
    seed: int = 1
    max_in_flight: int = MAX_IN_FLIGHT


@dataclass
class Generator:
    """One process's dispatcher: sends each arrival as its own task, logs every request."""

    options: Options
    ctx: Context
    mix: Mix
    log: RequestLog
    offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    rate: float = 0.0
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    requests: int = 0  # arrivals logged (overflows included)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def wall(self, monotonic: float) -> float:
        return monotonic + self.offset

    async def run(self) -> None:
        """Send the arrivals until --max-s, a stop file or a signal; then drain and flush."""
        self.rate = self.options.rate
        watchers = [asyncio.create_task(self._watch_rate()), asyncio.create_task(self._flush())]
        start = time.monotonic()
        end = start + self.options.max_s
        try:
            for offset in live_arrivals(lambda: self.rate, self.ctx.rng):
                scheduled = start + offset
                if scheduled >= end or self.stopping.is_set():
                    break
                early = scheduled - time.monotonic()
                if early > 0:
                    await asyncio.sleep(early)
                    if self.stopping.is_set():
                        break
                if len(self.in_flight) >= self.options.max_in_flight:
                    self._record(self.mix.draw(), scheduled, scheduled, OVERFLOW, NOTHING, 0.0)
                    continue
                task = asyncio.create_task(self.request(scheduled))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
        finally:
            if self.in_flight:  # each has its own deadline: none is cut off unlogged
                await asyncio.wait(set(self.in_flight), timeout=TIMEOUT_S + 1.0)
            for watcher in watchers:
                watcher.cancel()
            self.log.close()
            self._account(time.monotonic() - start)
            (self.options.request_log / DRAINED_FILE.format(pid=os.getpid())).touch()

    def _account(self, wall_s: float) -> None:
        """This process's own cost, beside its log: generator-<pid>.json (a measuring tool
        measures itself; docs/METHOD.md, Overload)."""
        used = os.times()
        cost = {"wall_s": wall_s, "cpu_s": used.user + used.system, "requests": self.requests}
        path = self.options.request_log / f"generator-{os.getpid()}.json"
        path.write_text(json.dumps(cost) + "\n")

    async def request(self, scheduled: float) -> None:
        """One request of the mix: sent now (never before its schedule), timed from it."""
        op = self.mix.draw()
        ctx = replace(self.ctx, sent=NOTHING)  # this request's own scratch (tasks overlap)
        sent = time.monotonic()
        outcome = NOTHING
        error = None
        try:
            call = CALLS[op](ctx)
            outcome = call.done(await call.method(call.request, timeout=TIMEOUT_S))
        except grpc.aio.AioRpcError as failure:
            error = failure.code().name
        except Exception as failure:  # a bug in the generator: counted, never silently lost
            error = f"GENERATOR_{type(failure).__name__}"
            _log_first(error, failure)
        if error is not None:
            outcome = ctx.sent  # what was sent before the failure (a write's request id)
        self._record(
            op, scheduled, time.monotonic(), error or answered(outcome.partial), outcome, sent
        )

    def _record(
        self, op: str, scheduled: float, end: float, status: str, outcome: Outcome, sent: float
    ) -> None:
        self.requests += 1
        self.log.append(
            RequestRecord(
                op,
                self.wall(scheduled),
                self.wall(end),
                status,
                outcome.request_id,
                outcome.id,
                outcome.post_id,
                self.wall(sent) if sent else 0.0,
            )
        )

    async def _watch_rate(self) -> None:
        path = self.options.rate_file
        while path is not None:
            try:
                self.rate = float(path.read_text().strip()) * self.options.share
            except (OSError, ValueError):
                pass  # a file being rewritten: keep the last rate read
            await asyncio.sleep(RATE_EVERY_S)

    async def _flush(self) -> None:
        stop = self.options.request_log / STOP_FILE
        while True:
            await asyncio.sleep(FLUSH_EVERY_S if not self.stopping.is_set() else 0.05)
            self.log.flush()
            if stop.exists():
                self.stopping.set()


_LOGGED: set[str] = set()


def _log_first(error: str, failure: Exception) -> None:
    """Each kind of generator failure once per process, on stderr."""
    if error not in _LOGGED:
        _LOGGED.add(error)
        print(f"generator failure {error}: {failure!r}", file=sys.stderr, flush=True)


async def generate(options: Options) -> None:
    """Open one channel per service, send the load, close them."""
    services = json.loads(options.stack.read_text())["services"]
    channels = [
        grpc.aio.insecure_channel(grpc_target(services[s]), options=channel_options())
        for s in ("posts", "comments", "query")
    ]
    rng = random.Random(options.seed)
    ctx = Context(
        Stubs(
            api_pb2_grpc.PostServiceStub(channels[0]),
            api_pb2_grpc.CommentServiceStub(channels[1]),
            api_pb2_grpc.QueryServiceStub(channels[2]),
        ),
        json.loads(options.seed_file.read_text()),
        rng,
        created=deque(maxlen=RECENT_POSTS),
        from_recent=options.scenario in FROM_RECENT,
    )
    generator = Generator(options, ctx, Mix(options.scenario, rng), RequestLog(options.request_log))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, generator.stopping.set)
    try:
        await generator.run()
    finally:
        for channel in channels:
            await channel.close()


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load.aio_generator",
        description="Open-loop Poisson load on grpc.aio from one event loop, one JSON line per "
        "request in REQUEST_LOG/requests-<pid>.jsonl (the lab's request log).",
    )
    parser.add_argument("--stack", type=Path, required=True, help="stack.json of the stack")
    parser.add_argument(
        "--seed-file", type=Path, required=True, help="JSON list of post ids to read"
    )
    parser.add_argument("--request-log", type=Path, required=True, help="directory of the log")
    parser.add_argument("--rate", type=float, required=True, help="requests/s of this process")
    parser.add_argument("--max-s", type=float, required=True, help="send for at most this long")
    parser.add_argument(
        "--rate-file",
        type=Path,
        help="a file holding the total rate, read every 0.1 s (overrides --rate once read)",
    )
    parser.add_argument(
        "--share",
        type=float,
        default=1.0,
        help="this process's share of the rate file's rate (with N processes: 1/N)",
    )
    parser.add_argument(
        "--scenario",
        default="chaos",
        choices=[s for s, ops in SCENARIOS.items() if set(ops) <= set(CALLS)],
        help="the mix of operations (default chaos)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed (give each process its own)"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=MAX_IN_FLIGHT,
        help=f"requests in flight at most; an arrival beyond it is logged as {OVERFLOW}",
    )
    args = parser.parse_args(argv)
    if args.rate < 0 or args.max_s <= 0 or not 0 < args.share <= 1 or args.max_in_flight < 1:
        parser.error("--rate >= 0, --max-s > 0, 0 < --share <= 1 and --max-in-flight >= 1")
    for path in (args.stack, args.seed_file):
        if not path.is_file():
            parser.error(f"no such file: {path}")
    return Options(
        stack=args.stack,
        seed_file=args.seed_file,
        request_log=args.request_log,
        rate=args.rate,
        max_s=args.max_s,
        rate_file=args.rate_file,
        share=args.share,
        scenario=args.scenario,
        seed=args.seed,
        max_in_flight=args.max_in_flight,
    )


def main(argv: list[str] | None = None) -> None:
    options = parse(argv)
    options.request_log.mkdir(parents=True, exist_ok=True)
    try:
        import uvloop  # a cheaper loop: less of the process's time between two dispatches
    except ImportError:
        asyncio.run(generate(options))
    else:
        uvloop.run(generate(options))


if __name__ == "__main__":
    main()
