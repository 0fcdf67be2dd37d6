"""What the suite's functions share instead of long argument lists: the command's settings
(BenchConfig), one implementation's run (RunContext) and one Locust run's load (Load)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.suite.profiles import PROFILES, Profile
from lab.stack.config import StackOptions
from lab.stack.stackfile import StackInfo

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BenchConfig:
    """`lab bench`'s settings (written to meta.json's config, in this order)."""

    impls: list[str]
    profile: str = "quick"
    scenarios: list[str] | None = None  # default: the profile's
    rate: float = 50.0  # open loop, requests/s; 0 = closed loop
    users: int = 0  # 0: derived from the rate (open) or 10 (closed)
    generators: int = 0  # Locust processes; 0: one, two from GENERATOR_SPLIT_RATE up
    duration_s: float | None = None
    attach: Path | None = None
    results_dir: Path = ROOT / "results"
    seed: int = 1
    sweep: bool = True
    # The bare chain's own capacity sweep beside the implementation's (its share of a floor);
    # False: the implementation's sweep alone, for series of capacity runs (docs/METHOD.md,
    # Does it repeat?).
    bare_sweep: bool = True
    # The generator in a session of its own, reniced and in the real-time class where permitted
    # (benchmarks/load/priority.py); False: in the lab's session at its priority, as before.
    generator_priority: bool = True
    progress: bool = True
    replicas: list[int] | None = None  # compare replica counts instead of the suite
    # async: nats-servers of the bus; one count: the suite on that bus; several (1,3): compare
    # them instead of the suite (benchmarks/suite/bus_nodes.py)
    bus_nodes: list[int] = field(default_factory=lambda: [1])
    repeat: int = 0  # repetitions (of each replica count, with --replicas); 0: the profile's
    # Fresh stacks with their fault proxies on every link (StackOptions.fault_proxies): what the
    # proxies cost, measured against runs without (docs/METHOD.md, Gray faults).
    fault_proxies: bool = False
    # Traces: one share traces the suite's stacks and load (none or 0: off); several compare
    # tracing's overhead instead of the suite (benchmarks/suite/trace_overhead.py).
    trace_sample: list[float] = field(default_factory=list)
    # What every fresh stack starts with (--no-metrics, --prometheus); the suite adds its own.
    stack: StackOptions = field(default_factory=StackOptions)
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def say(config: BenchConfig, message: str) -> None:
    if config.progress:
        print(message, flush=True)


@dataclass(frozen=True)
class RunContext:
    """One implementation under test: its running stack, where its files go, the seed data."""

    impl: str
    stack: StackInfo
    stack_file: Path
    impl_dir: Path  # results/<run-id>/<impl>
    seed_file: Path  # the seeded post ids (JSON), read by the generator
    config: BenchConfig
    trace_sample: float = 0.0  # the share of requests the generator starts a trace at
    trace_dir: Path | None = None  # where its trace files go (beside the services')

    @property
    def profile(self) -> Profile:
        return PROFILES[self.config.profile]

    def say(self, message: str) -> None:
        say(self.config, message)


@dataclass(frozen=True)
class Load:
    """One Locust run's load."""

    scenario: str
    rate: float  # offered requests/s, open loop; 0: closed loop
    users: int
    duration_s: float  # measured
    warmup_s: float  # before it, not measured
    bare_routes: Path | None = None  # run a bare chain's plans (routes JSON) instead of the API
