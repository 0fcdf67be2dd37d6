"""The load of an experiment: the lab's locustfile in its own process (Locust patches the whole
process with gevent), or the asyncio generator (benchmarks/load/aio_generator.py: the same calls
on grpc.aio, for the overload's spike), open loop at a fixed rate (arrivals independent of each
other's answers), writing one line per request, until the experiment drains it."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from benchmarks.load.priority import Priority, end_group, granted

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
AIO_GENERATOR = "benchmarks.load.aio_generator"

Engine = Literal["locust", "asyncio"]
ENGINES: tuple[Engine, ...] = ("locust", "asyncio")


@dataclass
class Load:
    """The running generator's processes (Locust's master or only process, or each asyncio
    generator); stop() ends them and waits for their last log lines."""

    processes: list[subprocess.Popen[bytes]]
    request_log: Path
    log_path: Path
    # Each process leads a session of its own (started prioritized): stop() then ends its
    # whole process group, Locust's workers with it.
    own_sessions: bool = False

    @classmethod
    def start(
        cls,
        stack_file: Path,
        seed_file: Path,
        out: Path,
        *,
        rate: float,
        max_s: float,
        seed: int = 1,
        rate_file: Path | None = None,
        processes: int = 1,
        niceness: int = 0,
        realtime: bool = False,
        engine: Engine = "locust",
    ) -> Load:
        """Start the load; with `rate_file`, its rate is whatever that file says (read every
        0.1 s: lab.chaos.actions.set_rate changes it), starting at `rate`. A `niceness` below 0
        runs the generator's processes at a higher CPU priority than the stack where this
        process may (CAP_SYS_NICE); `realtime` puts them in the real-time class where it may
        (`generator_niceness` and `generator_scheduler` say what they got). `engine` "asyncio"
        runs `processes` asyncio generators, each sending its share of the rate."""
        request_log = out / "requests"
        request_log.mkdir(parents=True, exist_ok=True)
        if rate_file is not None:
            rate_file.write_text(f"{rate}\n")
        log_path = out / f"{engine}.log"
        if engine == "asyncio":
            commands = [
                _asyncio_command(
                    stack_file, seed_file, request_log, rate, max_s, seed, rate_file, i, processes
                )
                for i in range(processes)
            ]
        else:
            commands = [
                _locust_command(
                    stack_file, seed_file, out, request_log, rate, max_s, seed, rate_file, processes
                )
            ]
        with open(log_path, "wb") as log:
            started = [
                subprocess.Popen(
                    args,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=ROOT,
                    # Its own session, hence its own scheduling group, to be reniced.
                    start_new_session=bool(niceness or realtime),
                    preexec_fn=(
                        Priority(niceness, realtime).preexec() if niceness or realtime else None
                    ),
                )
                for args in commands
            ]
        return cls(started, request_log, log_path, own_sessions=bool(niceness or realtime))

    def generator_niceness(self) -> int | None:
        """The generator's niceness (Locust's workers inherit it); None once it ended."""
        return granted(self.processes[0].pid)["niceness"]

    def generator_scheduler(self) -> str | None:
        """The generator's scheduling class: "fifo" (real time) or "other" (the default, where
        nice orders it); None once it ended."""
        return granted(self.processes[0].pid)["scheduler"]

    def generator_autogroup_nice(self) -> int | None:
        """The nice of the generator's scheduling autogroup (what orders it against the stack's
        sessions where the kernel groups by session); None without autogroups."""
        return granted(self.processes[0].pid)["autogroup_nice"]

    def alive(self) -> bool:
        return any(process.poll() is None for process in self.processes)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Start no more requests and wait until every generator process has logged the ones in
        flight (the generators' drain): a write sent and never logged would look, to the
        audit, like a row nobody asked for. False if a process did not drain in time."""
        (self.request_log / "stop").touch()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            logging = {p.name.split("-", 1)[1].split(".")[0] for p in self.log_files()}
            drained = {p.name.split("-", 1)[1] for p in self.request_log.glob("drained-*")}
            if logging <= drained:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """Drain, then ask the generator to stop (it flushes the request log), and make sure
        it has. The first process's exit code (Locust's master or only process)."""
        if self.alive():
            self.drain()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if self.own_sessions:
                # Locust's master quits its workers before it exits; one that outlived it (a
                # master killed above) would outlive the experiment: its group is ended too.
                end_group(process.pid)
        return self.processes[0].returncode

    def log_files(self) -> list[Path]:
        return sorted(self.request_log.glob("requests-*.jsonl"))


def _asyncio_command(
    stack_file: Path,
    seed_file: Path,
    request_log: Path,
    rate: float,
    max_s: float,
    seed: int,
    rate_file: Path | None,
    index: int,
    processes: int,
) -> list[str]:
    """Generator `index` of `processes`: its share of the rate, its own seed."""
    return [
        sys.executable,
        "-m",
        AIO_GENERATOR,
        "--stack",
        str(stack_file),
        "--seed-file",
        str(seed_file),
        "--request-log",
        str(request_log),
        "--rate",
        str(rate / processes),
        "--share",
        str(1 / processes),
        "--max-s",
        str(max_s),
        "--seed",
        str(seed * 1000 + index),
        *(["--rate-file", str(rate_file)] if rate_file is not None else []),
    ]


def _locust_command(
    stack_file: Path,
    seed_file: Path,
    out: Path,
    request_log: Path,
    rate: float,
    max_s: float,
    seed: int,
    rate_file: Path | None,
    processes: int,
) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "-u",  # a user per process: each a dispatcher of its share of the arrivals
        str(processes),
        "-r",
        str(processes),
        "-t",
        f"{math.ceil(max_s)}s",
        "--stop-timeout",
        "5",
        "--lab-stack",
        str(stack_file),
        "--lab-scenario",
        "chaos",
        "--lab-rate",
        str(rate),
        "--lab-seed-file",
        str(seed_file),
        "--lab-seed",
        str(seed),
        "--lab-request-log",
        str(request_log),
        "--lab-out",
        str(out),
    ]
    if processes > 1:
        args += ["--processes", str(processes)]  # master + workers, on this machine
    if rate_file is not None:
        args += ["--lab-rate-file", str(rate_file)]
    return args
