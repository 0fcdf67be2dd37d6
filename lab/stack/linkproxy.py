"""The fault proxy: one asyncio process forwarding TCP for every link of a stack it may disturb.

    python -m lab.stack.linkproxy --control RUN_DIR/fault-proxy.sock --ready-file FILE

The runner (lab.stack.proxies) starts it before the services and adds one listener per link
(`comments>posts#0`: the comments service's connections to the posts replica 0; `posts>db:posts`;
`posts>bus`; `clients>posts#0`), each forwarding to its server. A link forwards at once until
told otherwise (lab.stack.toxics.Behaviour): delay what the server sends back, hold everything
(a blackhole), reset, or reset a share of the exchanges.

It is a process of its own rather than a thread of the runner so that the runner's interpreter
lock (the control API, the chaos runner's watchers) is never on the data path. It listens on
127.0.0.1 only; its control channel is a Unix socket in the stack's run directory, made readable
by its owner only. One JSON object per line each way:

    {"op": "add", "name": "posts>db:posts", "upstream": "127.0.0.1:5432"} -> {"port": 40001}
    {"op": "set", "names": [...], "behaviour": {...}}  -> {"connections": 3}
    {"op": "stats"}                                     -> {"links": {name: {...}}}

Standard library only: it starts in a few milliseconds and shares nothing with the services.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.stack.toxics import CLEAR, Behaviour

CHUNK = 64 * 1024
QUEUE_CHUNKS = 256  # delayed chunks one direction may hold before it stops reading


class Reset(Exception):
    """The behaviour says: reset this connection."""


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
    # Set while the link forwards; cleared while it holds (every pump waits on it).
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.flowing.set()

    def apply(self, behaviour: Behaviour) -> int:
        """Take `behaviour` from now on; returns the number of open connections it reaches."""
        self.behaviour = behaviour
        if behaviour.hold:
            self.flowing.clear()
        else:
            self.flowing.set()
        if behaviour.refuse:
            self.stats.reset += len(self.pipes)
            for pipe in list(self.pipes):
                pipe.reset()
        return len(self.pipes)


def _reset_socket(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST (SO_LINGER 0), not FIN: the peer sees ECONNRESET."""
    if writer is None or writer.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Pipe:
    """One client connection and its connection to the server, pumped both ways."""

    def __init__(
        self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.link = link
        self.client = (reader, writer)
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.rng = random.Random()
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    async def run(self) -> None:
        link = self.link
        link.pipes.add(self)
        try:
            if link.behaviour.refuse:
                raise Reset
            await link.flowing.wait()  # a blackhole accepts and leaves the caller waiting
            if link.behaviour.refuse:
                raise Reset
            try:
                self.upstream = await asyncio.open_connection(link.host, link.port)
            except OSError:
                raise Reset from None  # the server refused: so does the link
            if self.closed:  # reset while it connected (a refuse began meanwhile)
                raise Reset
            _no_delay(self.upstream[1])
            _no_delay(self.client[1])
            up = asyncio.create_task(self._pump(self.client[0], self.upstream[1], False))
            down = asyncio.create_task(self._pump(self.upstream[0], self.client[1], True))
            self.tasks = [up, down]
            await asyncio.gather(up, down)
        except Reset:
            if not self.closed:
                link.stats.reset += 1
            self.reset()
        except (OSError, asyncio.IncompleteReadError):
            self.reset()
        finally:
            link.pipes.discard(self)
            self.close()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, towards_client: bool
    ) -> None:
        """Forward one direction in order. Latency applies to what the server sends back, so
        that every round trip pays it once; a delayed chunk goes through a queue and a writer
        task, and so does every chunk behind it while the queue is not empty."""
        link = self.link
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] | None = None
        writer: asyncio.Task[None] | None = None
        last_due = 0.0
        pending = 0  # chunks queued and not yet written

        async def write_queued() -> None:
            nonlocal pending
            assert queue is not None
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await link.flowing.wait()
                if data:
                    sink.write(data)
                    await sink.drain()
                else:
                    _end(sink)
                pending -= 1
                if not data:
                    return

        try:
            while True:
                await link.flowing.wait()  # a blackhole reads nothing more
                data = await source.read(CHUNK)
                behaviour = link.behaviour
                if data and behaviour.reset_share and self.rng.random() < behaviour.reset_share:
                    raise Reset
                await link.flowing.wait()
                if link.behaviour.refuse:
                    raise Reset
                if towards_client:
                    link.stats.bytes_down += len(data)
                else:
                    link.stats.bytes_up += len(data)
                delay = link.behaviour.delay_s(self.rng) if towards_client else 0.0
                if delay or pending:
                    if queue is None:
                        queue = asyncio.Queue(QUEUE_CHUNKS)
                        writer = asyncio.create_task(write_queued())
                    last_due = max(loop.time() + delay, last_due)
                    pending += 1
                    link.stats.delayed_chunks += bool(delay)
                    await queue.put((last_due, data))
                    if not data:
                        await writer  # type: ignore[misc]
                        return
                elif data:
                    sink.write(data)
                    await sink.drain()
                else:
                    _end(sink)
                    return
        finally:
            if writer is not None and not writer.done():
                writer.cancel()

    def reset(self) -> None:
        """RST both connections (whichever exist by now) and stop pumping."""
        self.closed = True
        self._cancel()
        _reset_socket(self.client[1])
        _reset_socket(self.upstream[1] if self.upstream else None)

    def close(self) -> None:
        """Close both connections (FIN, after what is buffered) and stop pumping."""
        self.closed = True
        self._cancel()
        for writer in (self.client[1], self.upstream[1] if self.upstream else None):
            if writer is not None and not writer.is_closing():
                writer.close()

    def _cancel(self) -> None:
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _end(sink: asyncio.StreamWriter) -> None:
    """The source closed its side: close ours towards the sink (half-close when possible)."""
    if sink.can_write_eof():
        with contextlib.suppress(OSError):
            sink.write_eof()
    else:
        sink.close()


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

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            link.stats.accepted += 1
            await Pipe(link, reader, writer).run()

        link.server = await asyncio.start_server(accept, "127.0.0.1", 0)
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
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.control, args.ready_file))


if __name__ == "__main__":
    main()
