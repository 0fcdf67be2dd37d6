"""A CPU profile of every service process of a running stack (docs/METHOD.md, Where the time
goes): one py-spy per process, sampling from outside without pausing it (--nonblocking), for a
fixed time while a load runs. Writes per process its collapsed stacks and a flame graph SVG."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.profiling import collapsed, flamegraph
from benchmarks.suite.results import Profiled
from lab.stack.stackfile import StackInfo

RATE_HZ = 100
TOP_FRAMES = 12
# The lab's own code, as py-spy names its files (relative to the working directory or absolute).
OWN_CODE = ("lab/", "sync_impl/", "async_impl/")


def py_spy() -> str | None:
    """py-spy beside this interpreter (the venv's), else on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class StackProfiler:
    """Start with the load, then `finish()`: one py-spy per service process."""

    def __init__(self, stack: StackInfo, out: Path, duration_s: float) -> None:
        self.stack, self.out, self.duration_s = stack, out, duration_s
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.problems: list[str] = []

    def start(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        binary = py_spy()
        if binary is None:
            self.problems.append("py-spy not found")
            return
        for name, proc in self.stack["processes"].items():
            args = [binary, "record", "--pid", str(proc["pid"]), "--rate", str(RATE_HZ)]
            args += ["--duration", str(int(self.duration_s)), "--nonblocking", "--format", "raw"]
            args += ["--output", str(self.out / f"{name}.collapsed.txt")]
            log = open(self.out / f"{name}.py-spy.log", "wb")  # noqa: SIM115 (closed by the child)
            self.running[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            log.close()

    def finish(self) -> Profiled:
        """Wait for every sampler; summarize and draw what each recorded."""
        services: dict[str, list[tuple[str, float]]] = {}
        own: dict[str, list[tuple[str, float]]] = {}
        files: dict[str, str] = {}
        for name, proc in self.running.items():
            try:
                proc.wait(timeout=self.duration_s + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raw = self.out / f"{name}.collapsed.txt"
            if proc.returncode != 0 or not raw.exists():
                log = (self.out / f"{name}.py-spy.log").read_text(errors="replace").strip()
                self.problems.append(f"{name}: py-spy failed: {log.splitlines()[-1:]}")
                continue
            stacks = collapsed.parse(raw.read_text())
            services[name] = collapsed.top_self(stacks, TOP_FRAMES)
            own[name] = collapsed.top_inclusive(stacks, OWN_CODE, TOP_FRAMES)
            svg = self.out / f"{name}.svg"
            svg.write_text(flamegraph.render(stacks, f"{name}: CPU samples at {RATE_HZ} Hz"))
            files[name] = svg.name
        return {
            "rate_hz": RATE_HZ,
            "duration_s": self.duration_s,
            "services": services,
            "own_code": own,
            "files": files,
            "problems": self.problems,
        }
