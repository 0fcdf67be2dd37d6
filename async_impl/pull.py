"""A continuous pull from a durable JetStream consumer: messages are handed over the moment they
arrive, with a bounded number asked for at a time.

Why not nats.py's `fetch(batch, timeout)` (measured; see docs/METHOD.md, Consistency): when no
message is waiting, fetch sends a lingering pull request and then, after the first message
arrives, keeps every further one until the batch is full or its timeout ends. Under a trickle of
events, which is what an idle consumer or replicas sharing one consumer see, a message waited in
the client for up to the whole timeout: with two replicas of moderation and query at 100 req/s,
the time from the stream's publish to fetch returning had a p99 of 790 ms on one replica (22 ms
on the other) and the visibility lag's p99 went from 61 ms to 700 ms.

Here every pull request asks for up to `window` messages with an expiry; each message is handed
over as it arrives; a new request is sent as soon as half the window is free again (messages
being processed count against it, so work in flight stays bounded). A request the server forgot
(pull requests do not survive a server restart, and nats.py does not send them again after it
reconnects: https://github.com/nats-io/nats.py/issues/504) simply expires on our side after
`expires_s` and is replaced, so consumption resumes by itself after a reconnect.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError

# Status codes the server sends on the inbox instead of a message that end a pull request: no
# messages, request expired, ended for another reason (max waiting, consumer deleted, ...). Any
# other status (100, a heartbeat) is skipped alike, without ending a request.
_REQUEST_ENDED = {"404", "408", "409"}


@dataclass
class _Request:
    deadline: float  # time.monotonic() when the server lets it expire
    remaining: int  # messages it may still deliver


class PullStream:
    """Pull requests for one durable consumer, and the messages they bring, on one inbox."""

    def __init__(
        self, nc: NATS, stream: str, durable: str, *, window: int = 64, expires_s: float = 1.0
    ) -> None:
        self.nc = nc
        self.window = window
        self.expires_s = expires_s
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._sub: Subscription | None = None
        self._requests: deque[_Request] = deque()

    async def open(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox)
        self._requests.clear()

    async def close(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    def outstanding(self) -> int:
        """Messages asked for and not yet delivered (by requests that have not expired)."""
        now = time.monotonic()
        while self._requests and self._requests[0].deadline <= now:
            self._requests.popleft()
        return sum(r.remaining for r in self._requests)

    async def _top_up(self, in_flight: int) -> None:
        room = self.window - self.outstanding() - in_flight
        if room >= max(1, self.window // 2):
            request = {"batch": room, "expires": int(self.expires_s * 1e9)}
            await self.nc.publish(self._next_subject, json.dumps(request).encode(), self._inbox)
            self._requests.append(_Request(time.monotonic() + self.expires_s, room))

    async def next(self, in_flight: int) -> Msg | None:
        """The next message, or None when none came before the oldest request expired.
        `in_flight`: messages handed over and not yet acked or nakked."""
        assert self._sub is not None, "open() first"
        await self._top_up(in_flight)
        wait = self._requests[0].deadline - time.monotonic() if self._requests else self.expires_s
        try:
            msg = await self._sub.next_msg(timeout=max(0.005, wait))
        except (NatsTimeoutError, TimeoutError):
            return None
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None:
            if status in _REQUEST_ENDED and self._requests:
                self._requests.popleft()  # the server serves (and ends) requests oldest first
            return None
        if self._requests:
            self._requests[0].remaining -= 1
            if self._requests[0].remaining <= 0:
                self._requests.popleft()
        return msg
