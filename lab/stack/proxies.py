"""The runner's handle on a stack's fault proxy (lab.stack.linkproxy): starts the process, gives
each client the address of its own link, and sets what each link does.

Link names are `CLIENT>SERVER`, with `#N` for a service replica: `comments>posts#0`,
`posts>db:posts`, `posts>bus`, `clients>posts#0` (the load generator's and every outside
client's way in). lab.stack.links derives which links a stack has from its topology; a fault
names pairs (`comments,posts`) and reaches every replica's link of the pair.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lab.stack.errors import StackError
from lab.stack.links import LinkPair
from lab.stack.processes import ManagedProcess
from lab.stack.stackfile import FaultProxyInfo, LinkInfo
from lab.stack.toxics import CLEAR, Behaviour

CONTROL_TIMEOUT_S = 10.0


def link_name(pair: LinkPair, replica: int | None = None) -> str:
    return f"{pair.client}>{pair.server}" + ("" if replica is None else f"#{replica}")


def pair_of(name: str) -> LinkPair:
    client, _, server = name.partition(">")
    return LinkPair(client, server.split("#", 1)[0])


def _with_address(url: str, address: str) -> str:
    """`url` (postgresql://user:pw@host:port/db, nats://host:port) pointed at `address`."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{address}" if credentials else address
    return urlunsplit(parts._replace(netloc=netloc))


class FaultProxies:
    """One linkproxy process per stack and its links (a process started and stopped like the
    stack's others: it dies with the runner). Not thread-safe: the Stack's lock serializes."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.control_path = run_dir / "fault-proxy.sock"
        self.ready_file = run_dir / "fault-proxy.ready"
        self.log_path = log_dir / "fault-proxy.log"
        self.process: ManagedProcess | None = None
        self.links: dict[str, LinkInfo] = {}
        self.behaviours: dict[str, Behaviour] = {}

    # -- life -------------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> None:
        self.ready_file.unlink(missing_ok=True)
        args = [
            sys.executable,
            "-m",
            "lab.stack.linkproxy",
            "--control",
            str(self.control_path),
            "--ready-file",
            str(self.ready_file),
        ]
        self.process = ManagedProcess.start("fault-proxy", args, self.log_path)
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():
            if not self.process.alive() or time.monotonic() > deadline:
                tail = self.process.tail_log()
                self.stop()
                raise StackError(f"the fault proxy did not start; log {self.log_path}:\n{tail}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop("SIGTERM", timeout_s=5)
        self.control_path.unlink(missing_ok=True)
        self.ready_file.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive() else None

    def describe(self) -> FaultProxyInfo:
        assert self.process is not None
        return {
            "pid": self.process.pid,
            "log": str(self.log_path),
            "links": dict(self.links),
        }

    # -- links ------------------------------------------------------------------------------
    def address(self, pair: LinkPair, upstream: str, replica: int | None = None) -> str:
        """The address `pair.client` is given for `upstream` (a new link the first time)."""
        name = link_name(pair, replica)
        known = self.links.get(name)
        if known is None or known["upstream"] != upstream:
            port = self._call({"op": "add", "name": name, "upstream": upstream})["port"]
            self.links[name] = {"listen": f"127.0.0.1:{port}", "upstream": upstream}
        return self.links[name]["listen"]

    def url(self, pair: LinkPair, url: str, replica: int | None = None) -> str:
        """A DSN or NATS URL for `pair.client`, pointed at its link (credentials unchanged:
        they go to the service in its environment, never on a command line); `replica` numbers
        the link when the server has several (a bus cluster's nodes)."""
        parts = urlsplit(url)
        upstream = f"{parts.hostname}:{parts.port}"
        return _with_address(url, self.address(pair, upstream, replica))

    def names(self, pairs: frozenset[LinkPair]) -> list[str]:
        """Every link (each replica's) of these pairs."""
        return sorted(n for n in self.links if pair_of(n) in pairs)

    def listen_ports(self, pairs: frozenset[LinkPair]) -> list[int]:
        return [int(self.links[n]["listen"].rsplit(":", 1)[1]) for n in self.names(pairs)]

    # -- behaviour --------------------------------------------------------------------------
    def set(self, pairs: frozenset[LinkPair], behaviour: Behaviour) -> tuple[list[str], int]:
        """Give the links of `pairs` `behaviour`; returns their names and how many open
        connections it reached."""
        names = self.names(pairs)
        reply = self._call({"op": "set", "names": names, "behaviour": behaviour.to_json()})
        for name in names:
            self.behaviours[name] = behaviour
        return names, int(reply["connections"])

    def clear(self, pairs: frozenset[LinkPair]) -> list[str]:
        return self.set(pairs, CLEAR)[0]

    def stats(self) -> dict[str, Any]:
        links: dict[str, Any] = self._call({"op": "stats"})["links"]
        return links

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.process is None or not self.process.alive():
            raise StackError("the fault proxy is not running")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONTROL_TIMEOUT_S)
            sock.connect(str(self.control_path))
            sock.sendall((json.dumps(request) + "\n").encode())
            reply: dict[str, Any] = json.loads(sock.makefile("rb").readline() or b"{}")
        if "error" in reply or not reply:
            raise StackError(f"fault proxy: {reply.get('error', 'no reply')}")
        return reply
