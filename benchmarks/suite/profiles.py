"""What `lab bench` runs (a profile: scenarios, durations, sweep rates) and the thresholds it
judges runs by: the SLO of the capacity sweep (docs/METHOD.md, Capacity) and the generator's
own limits (docs/METHOD.md, Load)."""

from __future__ import annotations

from dataclasses import dataclass

SLO_P99_MS = 50.0
SLO_ERROR_RATE = 0.001
SATURATED_CPU_PERCENT = 90.0  # of one core, mean over the run: the generator is the bottleneck
RYW_MAX_RATE = 10.0  # read_your_writes is a probe: several calls and polls per operation
# Locust's distributed mode (master + worker processes) from this offered rate up. Measured on
# this 2-core machine: one Locust process spent ~10 % of a core at 50 requests/s, two spent ~19 %
# each at 350/s in total. Splitting keeps every process far from saturation, which each run
# checks anyway (generator_saturated).
GENERATOR_SPLIT_RATE = 300.0


@dataclass(frozen=True)
class Profile:
    scenarios: tuple[str, ...]
    duration_s: float
    warmup_s: float
    sweep_rates: tuple[float, ...]
    sweep_scenarios: tuple[str, ...]
    sweep_duration_s: float
    calibration_n: int
    seed_posts: int
    refine_steps: int = 0  # bisections between the highest rate met and the lowest missed


PROFILES: dict[str, Profile] = {
    # CI: proves the pipeline end to end in seconds; its numbers mean nothing.
    "smoke": Profile(("mixed",), 3, 1, (20,), ("mixed",), 2, 200, 20, 0),
    # `make bench`: both implementations in a few minutes on 2 cores.
    "quick": Profile(
        ("mixed", "read_your_writes"), 15, 3, (50, 100, 200, 400), ("mixed",), 8, 1000, 200, 2
    ),
    # The published report.
    "full": Profile(
        ("read_heavy", "write_heavy", "mixed", "read_your_writes"),
        60,
        10,
        (25, 50, 100, 150, 200, 300, 400, 600, 800),
        ("read_heavy", "write_heavy", "mixed"),
        30,
        5000,
        1000,
        3,
    ),
}
