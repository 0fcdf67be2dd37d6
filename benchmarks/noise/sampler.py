"""One step's noise sources, sampled around it (docs/METHOD.md, Noise):

    sampler = NoiseSampler(stack_info)
    sampler.start()
    ...                     # any Locust run (benchmarks.suite.driver.run_locust)
    sample = sampler.stop()  # a NoiseSample (dataclasses.asdict for JSON)

What it reads, once at start and once at stop (plus, once a second on a thread of its own, the
machine's CPU pressure and the load generator's threads, which start and end within the step):

- the machine's CPU pressure (/proc/pressure/cpu `some`: the share of the step during which at
  least one runnable task waited for a CPU), and its busy and steal shares (/proc/stat);
- per component, the time its threads spent waiting on a run queue (schedstat's 2nd field)
  beside their time on a CPU: each service replica, each PostgreSQL server with its backends,
  nats-server, the generator (the Locust processes started by this process), and a bare chain's
  servers if one runs;
- per PostgreSQL server: checkpoints, autovacuum and autoanalyze runs, WAL writes and fsyncs
  with their time (benchmarks/noise/pg_activity.py);
- per service process: Python GC collections and pauses per generation (blog/rpc/gc_pauses.py).

Its own cost: two reads of a few hundred small /proc files, one connection per database and one
metrics call per service process at each end, and a 1 Hz thread reading a handful of files.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.noise import gc_activity, pg_activity, procfs
from benchmarks.noise.gc_activity import GcGeneration
from benchmarks.noise.pg_activity import PgCounters
from benchmarks.suite import cost
from benchmarks.suite.results import MachineShares
from lab.stack.stackfile import StackInfo, bus_pids

GENERATOR = "generator"
BARE_CHAIN = "bare-chain"
# Processes this one started that belong to the measurement, found by their command line.
HARNESS_MARKERS = {GENERATOR: "locust", BARE_CHAIN: "benchmarks.floor.bare_chain"}


@dataclass(frozen=True)
class CpuPressure:
    """The machine's CPU pressure over the step; every figure None when PSI is unavailable."""

    available: bool
    stall_ms: float | None = None  # `some` total: time at least one task waited for a CPU
    stall_share: float | None = None  # of the step's wall time (0-1)
    avg10_max: float | None = None  # highest 10 s average (percent) seen once a second
    note: str = ""


@dataclass(frozen=True)
class RunQueueWait:
    """A component's threads over the step: time on a CPU and waiting on a run queue."""

    processes: int
    run_ms: float
    wait_ms: float

    @property
    def wait_share(self) -> float | None:
        """Of the time its threads wanted a CPU, the part they waited for one."""
        total = self.run_ms + self.wait_ms
        return self.wait_ms / total if total else None


@dataclass(frozen=True)
class NoiseSample:
    """What the noise sources did during one step."""

    started_at: float  # unix time
    duration_s: float
    pressure: CpuPressure
    machine: MachineShares
    run_queue: dict[str, RunQueueWait]  # component -> its threads' waits
    postgres: dict[str, PgCounters]  # service -> its server's activity over the step
    gc: dict[str, dict[str, GcGeneration]]  # service process -> "gen0".."gen2" -> pauses
    problems: list[str] = field(default_factory=list)  # what could not be sampled

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NoiseSample:
        """A sample as `dataclasses.asdict` wrote it (a sweep step's noise.json)."""
        return cls(
            started_at=raw["started_at"],
            duration_s=raw["duration_s"],
            pressure=CpuPressure(**raw["pressure"]),
            machine=raw["machine"],
            run_queue={k: RunQueueWait(**v) for k, v in raw["run_queue"].items()},
            postgres={k: PgCounters(**v) for k, v in raw["postgres"].items()},
            gc={
                process: {gen: GcGeneration(**g) for gen, g in gens.items()}
                for process, gens in raw["gc"].items()
            },
            problems=list(raw.get("problems", [])),
        )


Key = tuple[str, int, int]  # component, pid, tid


def components(stack: StackInfo) -> dict[str, list[int]]:
    """Component -> root pids: each service replica, each PostgreSQL server (its backends are
    its descendants), the bus's nats-servers (every node of a cluster, as one component)."""
    found = {name: [proc["pid"]] for name, proc in stack["processes"].items()}
    for name, db in stack["databases"].items():
        if db["pid"] is not None:
            found[f"postgres-{name}"] = [db["pid"]]
    if "bus" in stack:
        pids = [pid for pid in bus_pids(stack) if pid is not None]
        if pids:
            found["nats-server"] = pids
    return found


class NoiseSampler:
    """Start before a step, stop after it (see the module docstring)."""

    def __init__(self, stack: StackInfo, *, poll_s: float = 1.0) -> None:
        self.stack = stack
        self.poll_s = poll_s
        self._start_stats: dict[Key, int] = {}
        self._start_run: dict[Key, int] = {}
        self._harness: dict[Key, procfs.SchedStat] = {}  # last seen, per harness thread
        self._harness_at_start: set[Key] = set()
        self._avg10_max: float | None = None
        self._pressure_start: procfs.Pressure | None = None
        self._ticks: dict[str, int] = {}
        self._pg_before: dict[str, PgCounters] = {}
        self._gc_before: gc_activity.Snapshots = {}
        self._problems: list[str] = []
        self._started = 0.0
        self._wall = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- start / stop -----------------------------------------------------------------------
    def start(self) -> None:
        self._problems = []
        self._pg_before, problems = pg_activity.read_all(self._dsns())
        self._problems += problems
        self._gc_before, problems = gc_activity.snapshots(self._service_addresses())
        self._problems += problems
        stats = self._stack_threads()
        self._start_run = {k: s.run_ns for k, s in stats.items()}
        self._start_stats = {k: s.wait_ns for k, s in stats.items()}
        self._harness = self._harness_threads()
        self._harness_at_start = set(self._harness)
        self._start_run |= {k: s.run_ns for k, s in self._harness.items()}
        self._start_stats |= {k: s.wait_ns for k, s in self._harness.items()}
        self._pressure_start = procfs.read_cpu_pressure()
        self._avg10_max = self._pressure_start.avg10 if self._pressure_start else None
        self._ticks = cost.cpu_ticks()
        self._started, self._wall = time.monotonic(), time.time()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="noise-sampler", daemon=True)
        self._thread.start()

    def stop(self, settle_s: float = 0.0) -> NoiseSample:
        """The sample. settle_s: wait that long before reading PostgreSQL's statistics, which
        a server publishes at most once a second (the machine's and the threads' figures are
        read first, so the wait is not part of them)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        duration = time.monotonic() - self._started
        pressure = self._pressure(procfs.read_cpu_pressure(), duration)
        machine = cost.machine_shares(cost.cpu_ticks(), self._ticks)
        self._poll_harness()
        stats = {**self._stack_threads(), **self._harness}
        run_queue = self._run_queue(stats)
        time.sleep(settle_s)
        pg_after, problems = pg_activity.read_all(self._dsns())
        self._problems += problems
        gc_after, problems = gc_activity.snapshots(self._service_addresses())
        self._problems += problems
        return NoiseSample(
            started_at=self._wall,
            duration_s=duration,
            pressure=pressure,
            machine=machine,
            run_queue=run_queue,
            postgres={
                name: after.delta(self._pg_before[name])
                for name, after in pg_after.items()
                if name in self._pg_before
            },
            gc=gc_activity.gc_deltas(gc_after, self._gc_before),
            problems=self._problems,
        )

    # -- what is read -----------------------------------------------------------------------
    def _dsns(self) -> dict[str, str]:
        return {name: db["dsn"] for name, db in self.stack["databases"].items()}

    def _service_addresses(self) -> dict[str, str]:
        """Process name ("posts-0") -> its address, replicas in the order stack.json lists."""
        return {
            f"{service}-{i}": address
            for service, addresses in self.stack["services"].items()
            for i, address in enumerate(addresses)
        }

    def _stack_threads(self) -> dict[Key, procfs.SchedStat]:
        found: dict[Key, procfs.SchedStat] = {}
        for component, roots in components(self.stack).items():
            for root in roots:
                for pid in procfs.tree(root):
                    for tid, stat in procfs.thread_schedstats(pid).items():
                        found[(component, pid, tid)] = stat
        return found

    def _harness_threads(self) -> dict[Key, procfs.SchedStat]:
        """Threads of the generator and bare chain processes this process started (the stack's
        own processes, when this process started the stack, are counted as the stack's)."""
        stack_pids = {
            pid
            for roots in components(self.stack).values()
            for r in roots
            for pid in procfs.tree(r)
        }
        found: dict[Key, procfs.SchedStat] = {}
        for pid in procfs.tree(os.getpid())[1:]:
            if pid in stack_pids:
                continue
            line = procfs.cmdline(pid)
            component = next((c for c, mark in HARNESS_MARKERS.items() if mark in line), None)
            if component is None:
                continue
            for tid, stat in procfs.thread_schedstats(pid).items():
                found[(component, pid, tid)] = stat
        return found

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._poll_harness()
            now = procfs.read_cpu_pressure()
            if now is not None:
                self._avg10_max = max(self._avg10_max or 0.0, now.avg10)

    def _poll_harness(self) -> None:
        # A thread's counters only grow: keep the latest reading of every thread seen, so one
        # that ended before stop() still counts up to its last second.
        self._harness.update(self._harness_threads())

    def _run_queue(self, stats: dict[Key, procfs.SchedStat]) -> dict[str, RunQueueWait]:
        """Per component, what its threads added during the step. A thread that started during
        the step counts from 0; one that ended before stop() is lost (the generator's and bare
        chain's are read once a second, so at most their last second is)."""
        totals: dict[str, tuple[set[int], int, int]] = {}
        for key, stat in stats.items():
            component, pid, _ = key
            pids, run, wait = totals.get(component, (set(), 0, 0))
            pids.add(pid)
            run += max(0, stat.run_ns - self._start_run.get(key, 0))
            wait += max(0, stat.wait_ns - self._start_stats.get(key, 0))
            totals[component] = (pids, run, wait)
        return {
            component: RunQueueWait(len(pids), run / 1e6, wait / 1e6)
            for component, (pids, run, wait) in sorted(totals.items())
        }

    def _pressure(self, end: procfs.Pressure | None, duration_s: float) -> CpuPressure:
        start = self._pressure_start
        if start is None or end is None:
            return CpuPressure(False, note="no /proc/pressure/cpu (PSI off or kernel < 4.20)")
        stall_ms = (end.total_us - start.total_us) / 1000
        return CpuPressure(
            True,
            stall_ms=stall_ms,
            stall_share=stall_ms / 1000 / duration_s if duration_s else None,
            avg10_max=max(self._avg10_max or 0.0, end.avg10),
        )
