"""Cost (docs/METHOD.md, Cost): CPU seconds and peak memory per component, database
transactions, bus messages and bytes; sampled from outside the processes, so the services pay
nothing."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from dataclasses import dataclass, field

import asyncpg
import psutil

from benchmarks.suite.results import ComponentUsage, MachineShares
from lab.stack.stackfile import StackInfo, bus_monitors, bus_pids


def components(stack: StackInfo) -> dict[str, list[int | None]]:
    """Component name -> root pids (a database's postmaster stands for its backends too)."""
    found: dict[str, list[int | None]] = {}
    for name, proc in stack["processes"].items():
        found.setdefault(name.rsplit("-", 1)[0], []).append(proc["pid"])
    for name, db in stack["databases"].items():
        found[f"postgres-{name}"] = [db["pid"]]
    if "bus" in stack:
        found["nats-server"] = [p for p in bus_pids(stack) if p is not None]  # every node
        if "exporter_pid" in stack["bus"]:  # what watching the bus costs (lab.stack.bus_exporter)
            found["nats-exporter"] = [stack["bus"]["exporter_pid"]]
    if "prometheus" in stack:  # what watching the run costs (--prometheus)
        found["prometheus"] = [stack["prometheus"]["pid"]]
    if "fault_proxy" in stack:
        found["fault-proxy"] = [stack["fault_proxy"]["pid"]]
    return found


def _tree(pids: list[int | None]) -> list[psutil.Process]:
    procs = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


@dataclass
class ProcessSampler:
    """CPU time (start to stop) and peak memory (PSS: shared pages counted once) per component."""

    stack: StackInfo
    interval_s: float = 1.0
    cpu_start: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _cpu(self) -> dict[str, float]:
        totals = {}
        for name, pids in components(self.stack).items():
            total = 0.0
            for proc in _tree(pids):
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            totals[name] = total
        return totals

    def _memory(self) -> None:
        for name, pids in components(self.stack).items():
            total = 0
            for proc in _tree(pids):
                try:
                    info = proc.memory_full_info()
                    total += getattr(info, "pss", info.rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), total / 2**20)

    def start(self) -> None:
        self.cpu_start = self._cpu()

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self._memory()

        self._memory()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, ComponentUsage]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        end = self._cpu()
        return {
            name: {
                "cpu_s": max(0.0, end.get(name, 0.0) - self.cpu_start.get(name, 0.0)),
                "peak_mb": self.peak_mb.get(name, 0.0),
            }
            for name in end
        }


def db_transactions(stack: StackInfo) -> dict[str, int]:
    """Committed + rolled back transactions per service database (pg_stat_database)."""

    async def one(dsn: str) -> int:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            return int(
                await conn.fetchval(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            )
        finally:
            await conn.close()

    async def every() -> dict[str, int]:
        return {name: await one(db["dsn"]) for name, db in stack["databases"].items()}

    return asyncio.run(every())


def bus_counters(stack: StackInfo) -> dict[str, int]:
    """Events in the event stream (as its first node holds it) and the servers' message/byte
    counters, summed over every node of a cluster: a cluster's own traffic between nodes (each
    write sent to the replicas) is counted there, as the cost it is (async stacks)."""
    if "bus" not in stack:
        return {}
    monitors = bus_monitors(stack)
    with urllib.request.urlopen(f"{monitors[0]}/jsz?streams=true", timeout=5) as reply:
        jsz = json.load(reply)
    stream = {"messages": 0, "bytes": 0}
    for account in jsz.get("account_details", []):
        for info in account.get("stream_detail", []):
            if info["name"] == "BLOG_EVENTS":
                stream = info["state"]
    found = {"stream_events": int(stream["messages"]), "stream_bytes": int(stream["bytes"])}
    for name in ("in_msgs", "in_bytes", "out_msgs", "out_bytes"):
        found[f"server_{name}"] = 0
    for monitor in monitors:
        with urllib.request.urlopen(f"{monitor}/varz", timeout=5) as reply:
            varz = json.load(reply)
        for name in ("in_msgs", "in_bytes", "out_msgs", "out_bytes"):
            found[f"server_{name}"] += int(varz[name])
    return found


def cpu_ticks() -> dict[str, int]:
    """The machine's CPU time counters (/proc/stat 'cpu' line), for busy/steal shares."""
    try:
        fields = open("/proc/stat").readline().split()[1:9]
    except OSError:
        return {}
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return dict(zip(names, map(int, fields), strict=False))


def machine_shares(after: dict[str, int], before: dict[str, int]) -> MachineShares:
    """Percent of all CPU time, between two cpu_ticks(): how busy the machine was, and how much
    time the hypervisor gave to someone else (steal: a noisy neighbour makes a run slower)."""
    d = delta(after, before)
    total = sum(d.values())
    if not total:
        return {}
    busy = total - d.get("idle", 0) - d.get("iowait", 0)
    return {"busy_percent": 100 * busy / total, "steal_percent": 100 * d.get("steal", 0) / total}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}
