"""How a CreateComment under the `wait` policy waits for its post (docs/METHOD.md, Causality
across services): a registry of waiters woken when a post arrives (by this replica's consumer
after its commit, or by another replica's NOTIFY: async_impl/causality.py), and a bounded wait
that trusts only the known_posts table. Never a poll."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from blog.ports import KnownPosts


class Arrivals:
    """Waiters keyed by id (a post id), woken when it arrives: a notification, never a poll.

    One per process and event loop. Whoever learns that a post became known calls
    `arrived(post_id)` (the process's own consumer after its commit, or a database
    notification from another replica's); `wake_all()` makes every waiter check again (after a
    notification may have been missed, e.g. a reconnect).
    """

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def __len__(self) -> int:
        return sum(len(events) for events in self._waiting.values())

    @contextmanager
    def expecting(self, key: str) -> Iterator[asyncio.Event]:
        """Register a waiter for `key` for the duration of the block; yields its Event."""
        event = asyncio.Event()
        self._waiting.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiting.get(key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiting[key]

    def arrived(self, key: str) -> int:
        """Wake the waiters of `key`; returns how many there were."""
        waiters = self._waiting.get(key, ())
        for event in waiters:
            event.set()
        return len(waiters)

    def wake_all(self) -> int:
        woken = 0
        for key in list(self._waiting):
            woken += self.arrived(key)
        return woken


async def wait_until_known(
    known: KnownPosts, arrivals: Arrivals, post_id: str, timeout_s: float
) -> bool:
    """Wait at most `timeout_s` until `post_id` is known; True if it is (now or in time).

    The waiter is registered before the first check, so an arrival between the check and the
    wait still wakes it; every wake-up checks the store again (a wake-up is a hint, the store
    is the truth), and so does the end of the bound (a notification lost on the way costs
    time, never a wrong answer).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with arrivals.expecting(post_id) as woken:
        while True:
            woken.clear()  # before the check: an arrival during the check must not be lost
            if await known.knows(post_id):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await woken.wait()
            except TimeoutError:
                pass


class KnownPostArrivals:
    """PostArrivals on this service's known_posts and this process's Arrivals."""

    def __init__(self, known: KnownPosts, arrivals: Arrivals) -> None:
        self.known = known
        self.arrivals = arrivals

    async def wait_known(self, post_id: str, timeout_s: float) -> bool:
        return await wait_until_known(self.known, self.arrivals, post_id, timeout_s)
