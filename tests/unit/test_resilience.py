"""The decisions of the resilience patterns (sync_impl/resilience/) against a fake clock: the
circuit breaker, the bulkhead, a peer's guard around both, load shedding and the seen-posts
fallback. No sockets: the calls are coroutines that answer or raise as told."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from blog.domain import DeadlineExceeded, NotFound, Unavailable
from blog.rpc.metrics import Metrics
from sync_impl.resilience.breaker import CircuitBreaker, State
from sync_impl.resilience.bulkhead import Bulkhead
from sync_impl.resilience.fallbacks import SeenPosts, SeenPostsDirectory
from sync_impl.resilience.guard import PeerGuard
from sync_impl.resilience.settings import BreakerSettings
from sync_impl.resilience.shedding import LoadShedder
from sync_impl.resilience.window import SlidingWindow
from tests.fakes import FakeClock

SETTINGS = BreakerSettings(
    window_s=1.0, window_buckets=10, min_calls=5, failure_rate=0.5, open_s=0.5, half_open_probes=1
)


def breaker(clock: FakeClock, **changes: float) -> CircuitBreaker:
    settings = BreakerSettings(**{**vars(SETTINGS), **changes})  # type: ignore[arg-type]
    return CircuitBreaker("posts", settings, clock)


def fail(b: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        assert b.allow()
        b.record_failure()


def succeed(b: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        assert b.allow()
        b.record_success()


# --- the sliding window ----------------------------------------------------------------------
def test_window_forgets_buckets_older_than_its_span() -> None:
    window = SlidingWindow(1.0, 10)  # buckets of 0.1 s
    window.add(10.01, failed=True)
    window.add(10.11, failed=False)
    window.add(10.56, failed=True)
    assert window.totals(10.6) == (3, 2)
    assert window.totals(10.99) == (3, 2)  # the bucket of 10.01 is still the oldest one
    assert window.totals(11.05) == (2, 1)  # it slid out
    assert window.totals(11.15) == (1, 1)
    assert window.totals(11.65) == (0, 0)
    window.add(12.01, failed=False)  # a reused slot starts empty
    assert window.totals(12.02) == (1, 0)


# --- the circuit breaker ---------------------------------------------------------------------
def test_breaker_stays_closed_below_the_minimum_of_calls() -> None:
    b = breaker(FakeClock())
    fail(b, 4)  # every call failed, but four calls are too few for a rate
    assert b.state is State.CLOSED and b.allow()


def test_breaker_opens_at_the_failure_rate_and_refuses_until_open_time_passed() -> None:
    clock = FakeClock()
    b = breaker(clock)
    succeed(b, 3)
    fail(b, 2)  # 2 of 5: 40 %
    assert b.state is State.CLOSED
    fail(b, 1)  # 3 of 6: 50 %
    assert b.state is State.OPEN
    assert not b.allow()
    clock.advance(0.49)
    assert not b.allow()
    clock.advance(0.02)
    assert b.allow()  # the probe
    assert b.state is State.HALF_OPEN


def test_old_successes_slide_out_of_the_window() -> None:
    clock = FakeClock()
    b = breaker(clock)
    succeed(b, 20)  # a healthy peer
    clock.advance(0.5)
    fail(b, 19)  # 19 of 39: still under half
    assert b.state is State.CLOSED
    clock.advance(0.6)  # the successes are more than a window old
    fail(b, 1)
    assert b.state is State.OPEN


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    clock = FakeClock()
    b = breaker(clock)
    fail(b, 5)
    clock.advance(0.5)
    assert b.allow()
    assert not b.allow()  # one probe at a time: the rest are refused meanwhile
    b.record_success()
    assert b.state is State.CLOSED
    fail(b, 4)  # a fresh window: the failures before the outage ended do not count
    assert b.state is State.CLOSED


def test_a_failed_probe_opens_again_for_another_open_time() -> None:
    clock = FakeClock()
    b = breaker(clock)
    fail(b, 5)
    clock.advance(0.5)
    assert b.allow()
    clock.advance(0.1)
    b.record_failure()
    assert b.state is State.OPEN
    clock.advance(0.45)
    assert not b.allow()  # counted from the probe's failure, not from the first opening
    clock.advance(0.05)
    assert b.allow()


def test_an_abandoned_probe_frees_its_slot() -> None:
    clock = FakeClock()
    b = breaker(clock)
    fail(b, 5)
    clock.advance(0.5)
    assert b.allow()
    b.record_abandoned()  # the caller went away: no verdict
    assert b.state is State.HALF_OPEN
    assert b.allow()


def test_a_late_answer_while_open_does_not_close() -> None:
    clock = FakeClock()
    b = breaker(clock)
    fail(b, 5)
    b.record_success()  # a call sent before the breaker opened answered late
    assert b.state is State.OPEN and not b.allow()


def test_transitions_are_told() -> None:
    clock = FakeClock()
    seen: list[tuple[State, State]] = []
    b = breaker(clock)
    b.on_change = lambda old, new: seen.append((old, new))
    fail(b, 5)
    clock.advance(0.5)
    succeed(b, 1)
    assert seen == [
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.CLOSED),
    ]


# --- the bulkhead and load shedding ----------------------------------------------------------
def test_bulkhead_refuses_beyond_its_bound_at_once() -> None:
    bulkhead = Bulkhead("comments", 2)
    assert bulkhead.try_enter() and bulkhead.try_enter()
    assert not bulkhead.try_enter()
    bulkhead.leave()
    assert bulkhead.try_enter()
    assert bulkhead.in_flight == 2


def test_load_shedder_refuses_beyond_its_bound() -> None:
    shedder = LoadShedder(1)
    assert shedder.try_enter()
    assert not shedder.try_enter()
    shedder.leave()
    assert shedder.try_enter()


@pytest.mark.parametrize("bound", [0, -1])
def test_bounds_below_one_are_refused(bound: int) -> None:
    with pytest.raises(ValueError):
        Bulkhead("posts", bound)
    with pytest.raises(ValueError):
        LoadShedder(bound)


# --- a peer's guard: bulkhead and breaker around each call -----------------------------------
class Peer:
    """A peer's calls: each answers `reply` or raises `error`; counts the calls made."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None  # set: the call waits for it

    def make(self) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            self.calls += 1
            if self.gate is not None:
                await self.gate.wait()
            if self.error is not None:
                raise self.error
            return "answer"

        return call


def guard_of(clock: FakeClock, bound: int = 64) -> tuple[PeerGuard, Metrics]:
    metrics = Metrics("query")
    guard = PeerGuard("comments", breaker(clock), Bulkhead("comments", bound), metrics)
    return guard, metrics


def test_guard_refuses_without_calling_once_the_breaker_opened() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        guard, metrics = guard_of(clock)
        peer = Peer()
        peer.error = Unavailable("comments database")
        for _ in range(5):
            with pytest.raises(Unavailable):
                await guard.call(peer.make())
        assert peer.calls == 5 and metrics.counters["breaker_opened_comments"] == 1
        with pytest.raises(Unavailable, match="circuit breaker open"):
            await guard.call(peer.make())
        assert peer.calls == 5  # refused at once: the network never saw it
        assert metrics.counters["breaker_rejected_comments"] == 1
        clock.advance(0.5)
        peer.error = None
        assert await guard.call(peer.make()) == "answer"  # the probe, answered: closed again
        assert guard.breaker.state is State.CLOSED

    asyncio.run(scenario())


def test_guard_counts_not_found_as_an_answer_and_a_deadline_as_a_failure() -> None:
    async def scenario() -> None:
        guard, _ = guard_of(FakeClock())
        peer = Peer()
        peer.error = NotFound("post x not found")
        for _ in range(10):
            with pytest.raises(NotFound):
                await guard.call(peer.make())
        assert guard.breaker.state is State.CLOSED
        peer.error = DeadlineExceeded("comments service")
        for _ in range(10):
            with pytest.raises(DeadlineExceeded):
                await guard.call(peer.make())
        assert guard.breaker.state is State.OPEN

    asyncio.run(scenario())


def test_guard_bulkhead_refuses_a_call_beyond_the_bound_and_frees_its_slots() -> None:
    async def scenario() -> None:
        guard, metrics = guard_of(FakeClock(), bound=2)
        peer = Peer()
        peer.gate = asyncio.Event()  # a slow peer: calls wait
        slow = [asyncio.create_task(guard.call(peer.make())) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Unavailable, match="bulkhead full"):
            await guard.call(peer.make())
        assert peer.calls == 2 and metrics.counters["bulkhead_rejected_comments"] == 1
        assert guard.breaker.state is State.CLOSED  # our own limit says nothing of the peer
        peer.gate.set()
        assert await asyncio.gather(*slow) == ["answer", "answer"]
        assert guard.bulkhead.in_flight == 0

    asyncio.run(scenario())


def test_guard_a_cancelled_call_gives_no_verdict_and_frees_its_slots() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        guard, _ = guard_of(clock)
        peer = Peer()
        peer.error = Unavailable("comments service")
        for _ in range(5):
            with pytest.raises(Unavailable):
                await guard.call(peer.make())
        clock.advance(0.5)
        peer.error, peer.gate = None, asyncio.Event()
        probe = asyncio.create_task(guard.call(peer.make()))
        await asyncio.sleep(0)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert guard.breaker.state is State.HALF_OPEN and guard.bulkhead.in_flight == 0
        peer.gate.set()
        assert await guard.call(peer.make()) == "answer"  # the slot was free for another probe

    asyncio.run(scenario())


# --- CreateComment's existence check while posts is unavailable ------------------------------
class Directory:
    def __init__(self) -> None:
        self.error: Exception | None = None
        self.known = {"p1", "p2"}

    async def exists(self, post_id: str) -> bool:
        if self.error is not None:
            raise self.error
        return post_id in self.known


def test_seen_posts_keeps_the_most_recent_up_to_its_size() -> None:
    seen = SeenPosts(2)
    for post_id in ("a", "b", "a", "c"):  # "a" seen again: "b" is the oldest
        seen.remember(post_id)
    assert "a" in seen and "c" in seen and "b" not in seen and len(seen) == 2


def test_a_post_seen_to_exist_still_exists_while_posts_is_unavailable() -> None:
    async def scenario() -> None:
        metrics = Metrics("comments")
        inner = Directory()
        directory = SeenPostsDirectory(inner, SeenPosts(10), metrics)
        assert await directory.exists("p1")
        assert not await directory.exists("nope")  # not remembered: no negative entries
        inner.error = Unavailable("posts service", "circuit breaker open")
        assert await directory.exists("p1")
        assert metrics.counters["post_checks_from_seen"] == 1
        with pytest.raises(Unavailable):
            await directory.exists("p2")  # never seen: refused, not guessed
        inner.error = DeadlineExceeded("posts service")
        with pytest.raises(DeadlineExceeded):
            await directory.exists("nope")

    asyncio.run(scenario())


# --- a refusal tells the client not to retry -------------------------------------------------
class Context:
    """What rpc_method uses of a grpc.aio.ServicerContext."""

    def __init__(self) -> None:
        self.trailing: tuple[tuple[str, str], ...] = ()
        self.aborted: tuple[object, str] | None = None

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing = metadata

    async def abort(self, code: object, details: str) -> None:
        self.aborted = (code, details)
        raise RuntimeError("aborted")  # grpc.aio raises too


@pytest.mark.parametrize("fail_fast", [True, False])
def test_a_fast_refusal_carries_a_no_retry_pushback(fail_fast: bool) -> None:
    import grpc

    from blog.rpc.errors import NO_RETRY, rpc_method

    class Servicer:
        @rpc_method
        async def Get(self, request: object, context: object) -> None:
            raise Unavailable("posts service", "circuit breaker open", fail_fast=fail_fast)

    context = Context()
    with pytest.raises(RuntimeError):
        asyncio.run(Servicer().Get(None, context))
    assert context.aborted == (
        grpc.StatusCode.UNAVAILABLE,
        "posts service unavailable: circuit breaker open",
    )
    assert context.trailing == (NO_RETRY if fail_fast else ())


def test_guard_refusals_are_fail_fast_and_peer_failures_are_not() -> None:
    async def scenario() -> None:
        guard, _ = guard_of(FakeClock(), bound=1)
        peer = Peer()
        peer.error = Unavailable("comments database")
        with pytest.raises(Unavailable) as failed:
            await guard.call(peer.make())
        assert not failed.value.fail_fast  # the peer's own answer: a retry may find it back
        peer.error, peer.gate = None, asyncio.Event()
        held = asyncio.create_task(guard.call(peer.make()))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable) as refused:
            await guard.call(peer.make())
        assert refused.value.fail_fast
        peer.gate.set()
        await held

    asyncio.run(scenario())
