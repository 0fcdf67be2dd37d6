"""stack.json: what a running stack tells its clients (the public contract's keys), typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NotRequired, TypedDict


class DatabaseInfo(TypedDict):
    pid: int | None
    dsn: str  # postgresql://role:password@127.0.0.1:port/database
    log: str


class BusInfo(TypedDict):
    url: str
    pid: int | None
    monitor: str
    log: str


class ProcessInfo(TypedDict):
    pid: int
    log: str


class StackInfo(TypedDict):
    """The document `lab up` writes to DATA_DIR/stack.json (0600: it holds passwords)."""

    impl: str
    services: dict[str, list[str]]  # service -> host:port of each replica
    databases: dict[str, DatabaseInfo]
    processes: dict[str, ProcessInfo]  # "<service>-<replica>"
    runner_pid: int
    bus: NotRequired[BusInfo]  # async only


def load_stack_file(path: Path) -> StackInfo:
    info: StackInfo = json.loads(path.read_text())
    return info


def write_stack_file(path: Path, info: StackInfo) -> None:
    """Atomically, readable by its owner only."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
