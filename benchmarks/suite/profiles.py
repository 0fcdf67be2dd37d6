"""What `lab bench` runs (a profile: scenarios, durations, sweep rates) and the thresholds it
judges runs by: the SLO of the capacity sweep (docs/METHOD.md, Capacity) and the generator's
own limits (docs/METHOD.md, Load)."""

from __future__ import annotations

from dataclasses import dataclass

SLO_P99_MS = 50.0
SLO_ERROR_RATE = 0.001
SATURATED_CPU_PERCENT = 90.0  # of one core, mean over the run: the generator is the bottleneck
# The generator's own send lag (send - scheduled start) beyond which its schedule, not the
# system, decided when requests went out. gevent's timers alone give a p50 of ~1 ms here, the
# same for every implementation; 10 ms is a fifth of the SLO's 50 ms at p99.
GENERATOR_LAG_P99_MS = 10.0
# A sweep step's two halves disagree when their p99s differ by more than this factor
# (benchmarks/suite/sweep.py flags; docs/METHOD.md, Capacity).
HALVES_FACTOR = 2.0
# ... and the second half's tail grew from a queue (not a stall) when its median is at least
# this factor above the first half's (benchmarks/suite/sweep.queue_grew).
QUEUE_P50_FACTOR = 1.2
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
    sweep_scenarios: tuple[str, ...]
    sweep_duration_s: float  # a grid step lasts at least this; longer at low rates (below)
    calibration_n: int
    seed_posts: int
    repetitions: int = 1  # of everything, the implementations interleaved (docs/METHOD.md, Noise)
    cpu_profile: bool = False  # py-spy every service during one extra run of the first scenario
    # A grid step runs long enough for this many requests (and at least sweep_duration_s): a
    # p99 over 2,000 requests rests on its 20 slowest, whatever the rate.
    sweep_min_requests: int = 0
    # The capacity's pilot: these rates in order, short steps, until one misses the SLO; then a
    # grid of `grid_points` rates around it (benchmarks/suite/sweep.py).
    pilot_rates: tuple[float, ...] = (100, 200, 400, 600, 800, 1000, 1300)
    pilot_duration_s: float = 3.0
    grid_points: int = 8
    # The longest wait for an idle machine before a sweep step (benchmarks/suite/settle.py).
    settle_max_s: float = 30.0
    # The wait after a sweep step for PostgreSQL's statistics (published at most once a second)
    # before its noise record reads them (benchmarks/suite/sweep.py).
    noise_stats_settle_s: float = 1.0


PROFILES: dict[str, Profile] = {
    # CI: proves the pipeline end to end, every step as short as it can be; its numbers mean
    # nothing.
    "smoke": Profile(
        scenarios=("mixed",),
        duration_s=3,
        warmup_s=1,
        sweep_scenarios=("mixed",),
        sweep_duration_s=2,
        calibration_n=200,
        seed_posts=20,
        cpu_profile=True,
        pilot_rates=(20, 40),
        pilot_duration_s=1.5,
        grid_points=3,
        # Its numbers mean nothing: on a busy machine (CI) 20 steps waiting 30 s each would
        # outlast its bound.
        settle_max_s=2.0,
        noise_stats_settle_s=0.0,
    ),
    # `make bench`: both implementations, twice each (enough to show a spread). Its capacity is
    # a curve of 2 x 8 short steps: published with its CI, and marked not resolved when that
    # is wider than the goal.
    "quick": Profile(
        scenarios=("mixed", "read_your_writes"),
        duration_s=15,
        warmup_s=3,
        sweep_scenarios=("mixed",),
        sweep_duration_s=5,
        sweep_min_requests=2000,
        calibration_n=1000,
        seed_posts=200,
        repetitions=2,
        cpu_profile=True,
    ),
    # The published report: every scenario, three repetitions, a curve of 3 x 10 steps.
    "full": Profile(
        scenarios=("read_heavy", "write_heavy", "mixed", "read_your_writes"),
        duration_s=30,
        warmup_s=5,
        sweep_scenarios=("mixed",),
        sweep_duration_s=8,
        sweep_min_requests=4000,
        calibration_n=3000,
        seed_posts=1000,
        repetitions=3,
        cpu_profile=True,
        grid_points=10,
    ),
}
