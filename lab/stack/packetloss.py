"""Random packet loss on a link, with nftables: `numgen random` drops a share of the packets to
and from the link's proxy port, both ways; TCP retransmits them (on loopback after at least the
200 ms minimum retransmission timeout), which is what loss does to a real connection.

The rules live in a table of their own, `lab_chaos_<pid>_<n>` (findable by name: every check
for leftovers greps `nft list ruleset` for lab|chaos), created with nftables' `owner` flag by a
long-lived `nft -i` child of the runner: the kernel deletes the table when that process ends. It
ends on restore (the last rule gone), on stop, and, with every other child, when the runner dies
(stack.orphan_guard's parent-death signal): not even a SIGKILL of the runner leaves a rule.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lab.stack.errors import FaultConflict, StackError
from lab.stack.processes import guarded

TABLE_PREFIX = "lab_chaos_"
CHAIN = "loss"  # ("drop" is a keyword)
_numbers = itertools.count()


def nft_available() -> bool:
    return shutil.which("nft") is not None


def lab_tables() -> list[str]:
    """The lab's nftables tables now in the kernel (any stack's): leftovers when none runs."""
    if not nft_available():
        return []
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return [line.split()[-1] for line in listed.stdout.splitlines() if TABLE_PREFIX in line]


class PacketLoss:
    """The packet-loss rules of one stack: port -> percent of packets dropped."""

    def __init__(self, log_path: Path) -> None:
        self.table = f"{TABLE_PREFIX}{os.getpid()}_{next(_numbers)}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.rules: dict[int, float] = {}

    def drop(self, ports: list[int], percent: float) -> None:
        """Drop `percent` % of the packets to and from each of `ports` (replacing any rule
        they had). Call on the stack's owner thread (the nft process dies with its thread)."""
        if not nft_available():
            raise FaultConflict(
                "packet-loss needs nftables (`nft`), which this machine does not have: use "
                "lossy (connections reset by the proxy) instead"
            )
        if self.process is None:
            self._open()
        self.rules.update({port: percent for port in ports})
        self._apply()

    def stop_dropping(self, ports: list[int]) -> None:
        for port in ports:
            self.rules.pop(port, None)
        if self.rules:
            self._apply()
        else:
            self.close()

    def close(self) -> None:
        """End the nft process: the kernel deletes the table with it."""
        process, self.process = self.process, None
        self.rules.clear()
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._await(lambda listed: self.table not in lab_tables(), "deleted")

    # -- nft --------------------------------------------------------------------------------
    def _open(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                guarded(["nft", "-i"]),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._send(
            f"add table inet {self.table} {{ flags owner; }}",
            f"add chain inet {self.table} {CHAIN} "
            "{ type filter hook output priority 0; policy accept; }",
        )

    def _apply(self) -> None:
        rules = [
            f"tcp {way} {port} numgen random mod 10000 < {round(percent * 100)} drop"
            for port, percent in sorted(self.rules.items())  # in 1/10,000: 0.5 % works
            for way in ("dport", "sport")
        ]
        self._send(
            f"flush chain inet {self.table} {CHAIN}",
            *(f"add rule inet {self.table} {CHAIN} {rule}" for rule in rules),
        )

        def exactly_these(listed: str) -> bool:
            found = [line.strip() for line in listed.splitlines() if line.strip().endswith("drop")]
            return found == rules

        self._await(exactly_these, f"holding exactly {len(rules)} rules")

    def _send(self, *commands: str) -> None:
        process = self.process
        if process is None or process.poll() is not None or process.stdin is None:
            raise StackError(f"nft -i is not running; see {self.log_path}")
        process.stdin.write(("\n".join(commands) + "\n").encode())
        process.stdin.flush()

    def _await(self, done: Callable[[str], bool], what: str, timeout_s: float = 5.0) -> None:
        """Poll `nft list table` until `done(listing)` (nft -i answers nothing we can wait on)."""
        deadline = time.monotonic() + timeout_s
        while True:
            listed = subprocess.run(
                ["nft", "list", "table", "inet", self.table], capture_output=True, text=True
            ).stdout
            if done(listed):
                return
            if time.monotonic() > deadline:
                raise StackError(f"nftables table {self.table}: not {what}; see {self.log_path}")
            time.sleep(0.02)
