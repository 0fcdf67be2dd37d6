"""The load of an experiment: the lab's locustfile in its own process (Locust patches the whole
process with gevent), open loop at a fixed rate (arrivals independent of each other's answers),
writing one line per request, until the experiment drains it."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"


@dataclass
class Load:
    """A running Locust process; stop() ends it and waits for its last log lines."""

    process: subprocess.Popen[bytes]
    request_log: Path
    log_path: Path

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
    ) -> Load:
        """Start the load; with `rate_file`, its rate is whatever that file says (read every
        0.1 s: lab.chaos.actions.set_rate changes it), starting at `rate`. A `niceness` below 0
        runs the generator's processes at a higher CPU priority than the stack where this
        process may (CAP_SYS_NICE); `generator_niceness` says what it got."""
        request_log = out / "requests"
        request_log.mkdir(parents=True, exist_ok=True)
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
            rate_file.write_text(f"{rate}\n")
            args += ["--lab-rate-file", str(rate_file)]
        log_path = out / "locust.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                preexec_fn=(lambda: _renice(niceness)) if niceness else None,
            )
        return cls(process, request_log, log_path)

    def generator_niceness(self) -> int | None:
        """The generator's niceness (its worker processes inherit it); None once it ended."""
        try:
            return os.getpriority(os.PRIO_PROCESS, self.process.pid)
        except OSError:
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Start no more requests and wait until every generator process has logged the ones in
        flight (the locustfile's drain): a write sent and never logged would look, to the
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
        """Drain, then ask Locust to stop (it flushes the request log), and make sure it has."""
        if self.alive():
            self.drain()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_files(self) -> list[Path]:
        return sorted(self.request_log.glob("requests-*.jsonl"))


def _renice(niceness: int) -> None:
    """In the child before exec: ask for `niceness`; without the right to raise a priority,
    stay as it is (the experiment records what the generator got)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except OSError:
        pass
