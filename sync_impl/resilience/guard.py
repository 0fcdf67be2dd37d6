"""One peer's guard: its bulkhead and its circuit breaker around each call to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from blog.domain import DeadlineExceeded, NotFound, Unavailable
from blog.rpc.errors import call_peer
from blog.rpc.metrics import Metrics
from sync_impl.resilience.breaker import CircuitBreaker, State
from sync_impl.resilience.bulkhead import Bulkhead

R = TypeVar("R")


class PeerGuard:
    """Calls to service `peer`, guarded: refused at once (Unavailable with fail_fast, without
    touching the network; the service's answer then tells clients not to retry it) when the
    bulkhead is full or the breaker open; otherwise made, and their outcome told to the
    breaker. Counted in the process's metrics: `bulkhead_rejected_<peer>`,
    `breaker_rejected_<peer>`, `breaker_opened_<peer>`."""

    def __init__(
        self, peer: str, breaker: CircuitBreaker, bulkhead: Bulkhead, metrics: Metrics
    ) -> None:
        self.peer = peer
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.metrics = metrics
        self.what = f"{peer} service"
        breaker.on_change = self._changed

    async def call(self, make: Callable[[], Awaitable[R]]) -> R:
        if not self.bulkhead.try_enter():
            self.metrics.inc(f"bulkhead_rejected_{self.peer}")
            full = f"bulkhead full ({self.bulkhead.max_in_flight} in flight)"
            raise Unavailable(self.what, full, fail_fast=True)
        try:
            if not self.breaker.allow():
                self.metrics.inc(f"breaker_rejected_{self.peer}")
                raise Unavailable(
                    self.what, f"circuit breaker {self.breaker.state}", fail_fast=True
                )
            try:
                result = await call_peer(self.peer, make())
            except (Unavailable, DeadlineExceeded):
                self.breaker.record_failure()
                raise
            except NotFound:
                self.breaker.record_success()  # an answer: the peer works
                raise
            except BaseException:
                self.breaker.record_abandoned()  # cancelled (or a bug): says nothing of the peer
                raise
            self.breaker.record_success()
            return result
        finally:
            self.bulkhead.leave()

    def _changed(self, old: State, new: State) -> None:
        if new is State.OPEN:
            self.metrics.inc(f"breaker_opened_{self.peer}")
