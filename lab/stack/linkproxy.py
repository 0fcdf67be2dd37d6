"""The fault proxy: one asyncio process forwarding TCP for every link of a stack it may disturb.

    python -m lab.stack.linkproxy --control RUN_DIR/fault-proxy.sock --ready-file FILE

The runner (lab.stack.proxies) starts it before the services and adds one listener per link
(`comments>posts#0`: the comments service's connections to the posts replica 0; `posts>db:posts`;
`posts>bus`; `clients>posts#0`), each forwarding to its server. A link forwards at once until
told otherwise (lab.stack.toxics.Behaviour): delay what the server sends back, hold everything
(a blackhole), reset, or reset a share of the exchanges.

It is a process of its own rather than a thread of the runner so that the runner's interpreter
lock (the control API, the chaos runner's watchers) is never on the data path. Every byte of a
chaos run's stack crosses it, so it is built to cost little: asyncio protocols rather than
streams (a chunk that needs no delay is written from the callback that received it, with no
task switch) on uvloop's event loop when installed (about half the CPU per exchange of the
streams on asyncio's loop it replaced; `python -m benchmarks.floor.proxy_cost` measures it). It
listens on 127.0.0.1 only; its control channel is a Unix socket in the stack's run directory,
made readable by its owner only. One JSON object per line each way:

    {"op": "add", "name": "posts>db:posts", "upstream": "127.0.0.1:5432"} -> {"port": 40001}
    {"op": "set", "names": [...], "behaviour": {...}}  -> {"connections": 3}
    {"op": "stats"}                                     -> {"links": {name: {...}}}

The standard library (and uvloop) only: it starts in a few milliseconds and shares nothing
with the services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import struct
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from lab.stack.toxics import CLEAR, Behaviour

UP, DOWN = 0, 1  # client -> server, server -> client
DELAYED_BYTES_MAX = 4 * 2**20  # a direction holding more delayed bytes stops reading
EOF: None = None  # a direction's end, queued like its data so that it keeps its place


@dataclass
class LinkStats:
    accepted: int = 0
    reset: int = 0  # connections this link reset on purpose
    delayed_chunks: int = 0
    bytes_up: int = 0  # client -> server
    bytes_down: int = 0  # server -> client


@dataclass
class Link:
    """One listener and its server; every connection through it obeys `behaviour`."""

    name: str
    host: str
    port: int
    behaviour: Behaviour = CLEAR
    server: asyncio.Server | None = None
    listen_port: int = 0
    stats: LinkStats = field(default_factory=LinkStats)
    pipes: set[Pipe] = field(default_factory=set)

    def apply(self, behaviour: Behaviour) -> int:
        """Take `behaviour` from now on; returns the number of open connections it reaches."""
        self.behaviour = behaviour
        pipes = list(self.pipes)
        for pipe in pipes:
            if behaviour.refuse:
                self.stats.reset += 1
                pipe.reset()
            elif behaviour.hold:
                pipe.hold()
            else:
                pipe.release()
        return len(pipes)


class Side(asyncio.Protocol):
    """One socket of a pipe: what it receives goes to the pipe, in its direction."""

    def __init__(self, pipe: Pipe, direction: int) -> None:
        self.pipe, self.direction = pipe, direction  # the direction of what it receives
        self.transport: asyncio.Transport | None = None
        self._pauses: set[str] = set()  # why its reading is paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # An asyncio.Transport (uvloop's is one without subclassing it); both set TCP_NODELAY.
        self.transport = cast(asyncio.Transport, transport)
        if self._pauses:
            self.transport.pause_reading()  # before the loop starts reading: nothing read yet
        if self.direction == UP:  # a client connected
            self.pipe.opened()

    def data_received(self, data: bytes) -> None:
        self.pipe.received(self.direction, data)

    def eof_received(self) -> bool:
        self.pipe.received(self.direction, EOF)
        return True  # half-close: the other way may still carry the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.lost(self, exc)

    # Flow control: a sink that cannot keep up pauses the source that feeds it.
    def pause_writing(self) -> None:
        self.pipe.source_of(self).pause("sink full")

    def resume_writing(self) -> None:
        self.pipe.source_of(self).resume("sink full")

    def pause(self, why: str) -> None:
        if not self._pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self._pauses.add(why)

    def resume(self, why: str) -> None:
        if why not in self._pauses:
            return
        self._pauses.discard(why)
        if not self._pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def write(self, data: bytes | None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if data is not EOF:
            transport.write(data)
        elif transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0), not FIN: the peer sees ECONNRESET."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class Pipe:
    """One client connection and its connection to the server, forwarded both ways in order.

    A chunk goes straight to the other side unless something is ahead of it or the link says
    otherwise: held (a blackhole: both sides stop reading, what had arrived waits), delayed
    (what the server sends back waits in a queue until its time, one timer for the queue, so
    a chunk never overtakes the one ahead), or reset."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.loop = asyncio.get_running_loop()
        self.client = Side(self, UP)
        self.upstream: Side | None = None
        self.rng = random.Random()
        self.waiting: tuple[deque[bytes | None], deque[bytes | None]] = (deque(), deque())
        self.delayed: deque[tuple[float, bytes | None]] = deque()  # towards the client
        self.delayed_bytes = 0
        self.last_due = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.eof_seen = [False, False]  # each direction's EOF received
        self.ended = [False, False]  # each direction's EOF forwarded (or its sink gone)
        self.closed = False

    # -- life -------------------------------------------------------------------------------
    def opened(self) -> None:
        """The client connected: connect to the server (unless the link refuses or holds)."""
        self.link.pipes.add(self)
        if self.link.behaviour.refuse:
            self.link.stats.reset += 1
            self.reset()
            return
        if self.link.behaviour.hold:
            self.hold()
        self.client.pause("connecting")
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        link = self.link
        try:
            _, side = await self.loop.create_connection(
                lambda: Side(self, DOWN), link.host, link.port
            )
        except OSError:
            self.reset()  # the server refused: so does the link
            return
        assert isinstance(side, Side)
        self.upstream = side
        if self.closed:
            side.reset()
            return
        if self.link.behaviour.hold:
            side.pause("hold")
        self.client.resume("connecting")
        self._drain_waiting()

    def source_of(self, sink: Side) -> Side:
        """The side whose data `sink` writes."""
        if sink is self.client and self.upstream is not None:
            return self.upstream
        return self.client

    def sink(self, direction: int) -> Side | None:
        return self.upstream if direction == UP else self.client

    def lost(self, side: Side, exc: Exception | None) -> None:
        """A socket closed: an error (a reset) is passed on as a reset; a clean close ends what
        it sends (after what is queued) and what it was to receive."""
        if self.closed:
            return
        if exc is not None:
            self.reset()
            return
        if not self.eof_seen[side.direction]:
            self.received(side.direction, EOF)
        self.ended[1 - side.direction] = True  # nothing more can reach it
        if all(self.ended) or self.upstream is None:
            self.close()

    def reset(self) -> None:
        self.closed = True
        self._cancel_timer()
        self.client.reset()
        if self.upstream is not None:
            self.upstream.reset()
        self.link.pipes.discard(self)

    def close(self) -> None:
        self.closed = True
        self._cancel_timer()
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                side.transport.close()
        self.link.pipes.discard(self)

    # -- the link's behaviour ---------------------------------------------------------------
    def hold(self) -> None:
        self.client.pause("hold")
        if self.upstream is not None:
            self.upstream.pause("hold")

    def release(self) -> None:
        self.client.resume("hold")
        if self.upstream is not None:
            self.upstream.resume("hold")
        self._drain_waiting()
        self._flush_delayed()

    # -- data -------------------------------------------------------------------------------
    def received(self, direction: int, data: bytes | None) -> None:
        if self.closed:
            return
        behaviour = self.link.behaviour
        if data and behaviour.reset_share and self.rng.random() < behaviour.reset_share:
            self.link.stats.reset += 1
            self.reset()
            return
        if data is EOF:
            self.eof_seen[direction] = True
        elif direction == UP:
            self.link.stats.bytes_up += len(data)
        else:
            self.link.stats.bytes_down += len(data)
        waiting = self.waiting[direction]
        if waiting or behaviour.hold or self.sink(direction) is None:
            waiting.append(data)  # behind what waits already, or until the hold ends
            return
        self._send(direction, data)

    def _drain_waiting(self) -> None:
        for direction in (UP, DOWN):
            waiting = self.waiting[direction]
            while waiting and not self.link.behaviour.hold and self.sink(direction) is not None:
                self._send(direction, waiting.popleft())

    def _send(self, direction: int, data: bytes | None) -> None:
        """Write now, or (towards the client, with latency or a queue ahead) at its time."""
        if direction == DOWN:
            delay = self.link.behaviour.delay_s(self.rng)
            if delay or self.delayed:
                due = max(self.loop.time() + delay, self.last_due)
                self.last_due = due
                self.delayed.append((due, data))
                self.link.stats.delayed_chunks += bool(delay)
                self.delayed_bytes += len(data or b"")
                if self.delayed_bytes > DELAYED_BYTES_MAX and self.upstream is not None:
                    self.upstream.pause("delayed")
                self._arm()
                return
        self._write(direction, data)

    def _write(self, direction: int, data: bytes | None) -> None:
        sink = self.sink(direction)
        if sink is not None:
            sink.write(data)
        if data is EOF:
            self.ended[direction] = True
            if all(self.ended):
                self.close()

    def _arm(self) -> None:
        if self.timer is None and self.delayed:
            self.timer = self.loop.call_at(self.delayed[0][0], self._flush_delayed)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _flush_delayed(self) -> None:
        """Write every delayed chunk whose time has come (none while the link holds)."""
        self._cancel_timer()
        if self.closed or self.link.behaviour.hold:
            return
        now = self.loop.time()
        while self.delayed and self.delayed[0][0] <= now:
            _, data = self.delayed.popleft()
            self.delayed_bytes -= len(data or b"")
            self._write(DOWN, data)
            if self.closed:
                return
        if self.upstream is not None and self.delayed_bytes <= DELAYED_BYTES_MAX // 2:
            self.upstream.resume("delayed")
        self._arm()


class LinkProxy:
    """Every link of one stack, and the control channel that adds and disturbs them."""

    def __init__(self) -> None:
        self.links: dict[str, Link] = {}

    async def add(self, name: str, upstream: str) -> int:
        host, _, port = upstream.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"upstream must be host:port, got {upstream!r}")
        link = self.links.get(name)
        if link is not None:  # the server came back elsewhere: later connections go there
            link.host, link.port = host, int(port)
            return link.listen_port
        link = Link(name, host, int(port))
        loop = asyncio.get_running_loop()

        def accept() -> Side:
            link.stats.accepted += 1
            return Pipe(link).client  # its connection_made opens the pipe

        link.server = await loop.create_server(accept, "127.0.0.1", 0)
        link.listen_port = int(link.server.sockets[0].getsockname()[1])
        self.links[name] = link
        return link.listen_port

    def set(self, names: list[str], behaviour: Behaviour) -> int:
        unknown = [n for n in names if n not in self.links]
        if unknown:
            raise ValueError(f"no such link: {', '.join(unknown)}")
        return sum(self.links[n].apply(behaviour) for n in names)

    def stats(self) -> dict[str, Any]:
        return {
            name: {
                "listen": f"127.0.0.1:{link.listen_port}",
                "upstream": f"{link.host}:{link.port}",
                "behaviour": link.behaviour.to_json(),
                "open": len(link.pipes),
                **asdict(link.stats),
            }
            for name, link in self.links.items()
        }

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "add":
            return {"port": await self.add(str(request["name"]), str(request["upstream"]))}
        if op == "set":
            names = request.get("names")
            if not isinstance(names, list):
                raise ValueError('"names" must be a list of link names')
            behaviour = Behaviour.from_json(request.get("behaviour", {}))
            return {"connections": self.set([str(n) for n in names], behaviour)}
        if op == "stats":
            return {"links": self.stats()}
        raise ValueError(f"unknown op {op!r}: add, set or stats")

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = await self.handle(json.loads(line))
                except (ValueError, KeyError, TypeError) as error:
                    reply = {"error": f"{type(error).__name__}: {error}"}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def serve(control_path: Path, ready_file: Path | None) -> None:
    proxy = LinkProxy()
    control_path.unlink(missing_ok=True)
    old = os.umask(0o077)  # the socket is its owner's only: it can stall the whole stack
    try:
        server = await asyncio.start_unix_server(proxy.control, path=str(control_path))
    finally:
        os.umask(old)
    if ready_file is not None:
        ready_file.write_text(str(os.getpid()))
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.stack.linkproxy", description=__doc__)
    parser.add_argument("--control", type=Path, required=True, help="Unix socket to listen on")
    parser.add_argument("--ready-file", type=Path, help="written once the control socket listens")
    args = parser.parse_args(argv)
    try:
        import uvloop  # about half the CPU per forwarded chunk of asyncio's own loop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.control, args.ready_file))


if __name__ == "__main__":
    main()
