"""A bulkhead (Nygard, Release It!): a bound on the calls in flight to one peer, so that a slow
peer cannot hold every task of the process. A call beyond the bound is refused at once, not
queued: waiting for a slot would only move the queue from the peer to us."""

from __future__ import annotations


class Bulkhead:
    """`try_enter()` before a call (False: refused, the bound is reached), `leave()` after."""

    def __init__(self, name: str, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("a bulkhead needs room for at least one call")
        self.name = name
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    def try_enter(self) -> bool:
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
