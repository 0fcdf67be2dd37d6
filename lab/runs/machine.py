"""The machine and the code a run measured, for meta.json (docs/METHOD.md, Results and report)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import NotRequired, TypedDict

import psutil

from lab.stack.nats_server import find_nats_server, nats_server_version
from lab.stack.postgres import find_bin_dir, server_version

ROOT = Path(__file__).resolve().parents[2]

PACKAGES = ("grpcio", "protobuf", "asyncpg", "nats-py", "locust", "hdrhistogram", "psutil")


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class MachineMeta(TypedDict):
    """The machine and the code a run measured (meta.json's and summary.json's machine)."""

    git_commit: str
    git_dirty: bool  # tracked files changed since the commit: the run measured no commit
    cpu_model: str
    cpu_count: int | None
    memory_mb: NotRequired[int]  # physical memory (runs before it was recorded lack it)
    platform: str
    python: str
    packages: dict[str, str | None]  # distribution -> version (None: not installed)
    postgres: str
    nats_server: str


def machine_meta() -> MachineMeta:
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_mb": round(psutil.virtual_memory().total / 2**20),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": packages,
        "postgres": server_version(find_bin_dir()),
        "nats_server": nats_server_version(find_nats_server()),
    }
