"""Child processes that cannot outlive the lab: parent-death signal, own session, bounded stop."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_GUARD = Path(__file__).with_name("orphan_guard.py")


def guarded(args: Sequence[str], user: str | None = None) -> list[str]:
    """`args` run through orphan_guard.py (as `user`): killed by the kernel when we die."""
    # -I -S: isolated and without site: the launcher starts in a few milliseconds.
    options = ["--user", user] if user else []
    return [sys.executable, "-I", "-S", str(_GUARD), str(os.getpid()), *options, "--", *args]


def as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a child as `user` with that user's groups only.

    Without group/extra_groups the child would keep root's groups, and the group bits of
    root-owned directories (often none) would then deny it access.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class ManagedProcess:
    """A started child with its log file; stop() always ends it (SIGKILL after the grace period)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float = field(default_factory=time.time)

    @classmethod
    def start(
        cls,
        name: str,
        args: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
    ) -> ManagedProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                guarded(args, user),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a Ctrl-C in the terminal reaches the runner only, which then stops
                # children in dependency order instead of all at once.
                start_new_session=True,
            )
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, signal_name: str = "SIGTERM", timeout_s: float = 10.0) -> int | None:
        """Ask politely with `signal_name`, wait up to timeout_s, then SIGKILL. Returns the code."""
        if self.alive():
            self.signal(signal.Signals[signal_name])
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.poll()

    def tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ServiceProcess:
    service: str
    index: int
    process: ManagedProcess
    ready_file: Path
    metrics_file: Path | None = None  # where it writes its /metrics address (None: no exposition)
    address: str = ""
    metrics_address: str = ""  # host:port of its Prometheus /metrics

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"
