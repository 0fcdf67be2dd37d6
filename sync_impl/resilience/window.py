"""A sliding window of call outcomes over time, in buckets (the circuit breaker's memory)."""

from __future__ import annotations


class SlidingWindow:
    """Calls and failures over the last `span_s` seconds, counted in `buckets` buckets: a
    bucket older than the span no longer counts (so the window slides by a bucket at a time)."""

    def __init__(self, span_s: float, buckets: int) -> None:
        if span_s <= 0 or buckets < 1:
            raise ValueError("a window needs a positive span and at least one bucket")
        self.width = span_s / buckets
        self.size = buckets
        self._epochs = [-1] * buckets  # which bucket-of-time each slot holds now
        self._calls = [0] * buckets
        self._failures = [0] * buckets

    def add(self, now: float, failed: bool) -> None:
        epoch = int(now // self.width)
        slot = epoch % self.size
        if self._epochs[slot] != epoch:  # a slot reused for a newer bucket starts empty
            self._epochs[slot], self._calls[slot], self._failures[slot] = epoch, 0, 0
        self._calls[slot] += 1
        self._failures[slot] += failed

    def totals(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the buckets of the last span, the current one included."""
        newest = int(now // self.width)
        calls = failures = 0
        for slot, epoch in enumerate(self._epochs):
            if newest - self.size < epoch <= newest:
                calls += self._calls[slot]
                failures += self._failures[slot]
        return calls, failures

    def clear(self) -> None:
        self._epochs = [-1] * self.size
