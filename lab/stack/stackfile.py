"""stack.json: what a running stack tells its clients (the public contract's keys), typed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NotRequired, TypedDict


class DatabaseInfo(TypedDict):
    pid: int | None
    dsn: str  # postgresql://role:password@127.0.0.1:port/database
    log: str


class BusNodeInfo(TypedDict):
    """One nats-server of the bus."""

    name: str  # its server_name (lab-bus, or lab-bus-0, lab-bus-1, ... in a cluster)
    url: str
    pid: int | None  # None while it is killed
    monitor: str  # its monitoring endpoint (/jsz, /varz, /healthz)
    log: str


class BusInfo(TypedDict):
    """The bus. `url`, `pid`, `monitor` and `log` are its first node's (what readers that know
    one server use); `nodes` lists every node, and `stream_replicas` the streams' replicas."""

    url: str
    pid: int | None
    monitor: str
    log: str
    metrics: NotRequired[str]  # host:port of the bus exporter's Prometheus /metrics
    exporter_pid: NotRequired[int]
    nodes: NotRequired[list[BusNodeInfo]]
    stream_replicas: NotRequired[int]


class ProcessInfo(TypedDict):
    pid: int
    log: str
    metrics: NotRequired[str]  # host:port of its Prometheus /metrics (unless exposition is off)


class PrometheusInfo(TypedDict):
    """The Prometheus server scraping the stack (`--prometheus`)."""

    url: str  # http://127.0.0.1:PORT
    pid: int | None
    home: str  # its configuration, rules and data


class ControlInfo(TypedDict):
    """Where a running stack's fault-control API listens (stack.control), and its secret:
    only who can read stack.json can send it `Authorization: Bearer <token>`."""

    url: str  # http://127.0.0.1:PORT
    token: str


class LinkInfo(TypedDict):
    listen: str  # host:port the link's client is given
    upstream: str  # host:port of its server


class FaultProxyInfo(TypedDict):
    """The fault proxy of a stack started with fault proxies (lab.stack.proxies): its process
    and every link it forwards (`comments>posts#0`, `posts>db:posts`, `clients>posts#0`, ...)."""

    pid: int
    log: str
    links: dict[str, LinkInfo]


class StackInfo(TypedDict):
    """The document `lab up` writes to DATA_DIR/stack.json (0600: it holds passwords)."""

    impl: str
    # service -> host:port of each replica (with fault proxies: of each replica's client link)
    services: dict[str, list[str]]
    databases: dict[str, DatabaseInfo]
    processes: dict[str, ProcessInfo]  # "<service>-<replica>"
    runner_pid: int
    bus: NotRequired[BusInfo]  # async only
    control: NotRequired[ControlInfo]  # while a fault-control API serves the stack
    fault_proxy: NotRequired[FaultProxyInfo]  # StackOptions.fault_proxies
    prometheus: NotRequired[PrometheusInfo]  # with --prometheus


def bus_urls(info: StackInfo) -> list[str]:
    """Every node's URL of the stack's bus (a stack.json without `nodes`: its one `url`);
    connect with all of them, so a client survives the loss of any one node."""
    bus = info["bus"]
    return [node["url"] for node in bus.get("nodes", [])] or [bus["url"]]


def bus_pids(info: StackInfo) -> list[int | None]:
    """Every node's pid (None for one that is not running)."""
    bus = info["bus"]
    return [node["pid"] for node in bus.get("nodes", [])] or [bus["pid"]]


def bus_monitors(info: StackInfo) -> list[str]:
    """Every node's monitoring endpoint."""
    bus = info["bus"]
    return [node["monitor"] for node in bus.get("nodes", [])] or [bus["monitor"]]


def load_stack_file(path: Path) -> StackInfo:
    info: StackInfo = json.loads(path.read_text())
    return info


def write_stack_file(path: Path, info: StackInfo) -> None:
    """Atomically, readable by its owner only (from its creation on: it holds secrets)."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(json.dumps(info, indent=2) + "\n")
    tmp.replace(path)
