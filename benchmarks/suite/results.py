"""The shapes of what `lab bench` writes (results/<run-id>/summary.json, meta.json and each
measured run's summary.json) and of what its functions return, as TypedDicts: the JSON is the
results' contract (docs/METHOD.md, Results and report). Key order is the order written."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from benchmarks.load.hdr import LatencySummary
from benchmarks.load.priority import Granted
from benchmarks.suite.capacity_fit import Interval
from benchmarks.suite.stats import Comparison, Spread
from lab.runs.machine import MachineMeta

__all__ = [
    "CapacityAggregate",
    "CapacityComparison",
    "CurveFigures",
    "Comparisons",
    "ComponentUsage",
    "CostSummary",
    "GeneratorCpu",
    "ImplAggregate",
    "ImplResult",
    "ImplTargets",
    "LatencySummary",
    "LoadSummary",
    "MachineShares",
    "MeasuredRun",
    "OperationOverhead",
    "OverheadReading",
    "OperationAggregate",
    "OperationSummary",
    "Profiled",
    "Repetition",
    "RunAggregate",
    "RunOverhead",
    "RunSummary",
    "ScenarioCapacity",
    "Slo",
    "StackSummary",
    "SummaryDocument",
    "SweepResult",
    "SweepStep",
    "Targets",
]


# --- one run ---------------------------------------------------------------------------------
class OperationSummary(TypedDict):
    """One operation of a run, over every generator process."""

    ok: int  # answered, partial answers included
    partial: int  # of `ok`: answers the server marked partial (a view without its comments)
    errors: dict[str, int]  # gRPC status name (or GENERATOR_*, TIMEOUT) -> count
    error_rate: float
    latency_ms: LatencySummary  # from the scheduled start (open loop)
    service_time_ms: LatencySummary  # from the actual send


class GeneratorCpu(TypedDict):
    mean: float  # of the busiest generator process, percent of one core
    max: float  # highest sample of any process


class LoadSummary(TypedDict):
    """What the generator processes measured in one Locust run (driver.summarize)."""

    scenario: str
    mode: Literal["open", "closed"]
    offered_rate: float | None  # requests/s; None in a closed loop
    achieved_rate: float
    successful_rate: float
    goodput_rate: float  # requests/s answered successfully within the SLO's latency
    duration_s: float  # the measured window
    users: int
    generator_processes: int
    requests: int
    arrivals: int  # open loop: arrivals scheduled in the measured window (= requests in closed)
    errors: int
    error_rate: float
    latency_ms: LatencySummary  # every operation together
    halves_p99_ms: list[float | None]  # the measured window's first and second half (stationary?)
    halves_p50_ms: list[float | None]  # ... their medians (a queue, or a stall?)
    operations: dict[str, OperationSummary]
    probe_ms: dict[str, LatencySummary]  # the scenario's own histograms (read_your_writes)
    probe_counters: dict[str, int]
    generator_cpu_percent: GeneratorCpu
    generator_saturated: bool
    generator_lag_ms: LatencySummary  # send - scheduled start, every request sent
    generator_overflow: int  # arrivals not sent: the in-flight bound was reached
    generator_in_flight_max: int  # the most requests in flight in any one second's sample
    generator_behind: bool  # lag p99 > GENERATOR_LAG_P99_MS or any overflow: not the system's


class MachineShares(TypedDict, total=False):
    """Percent of all the machine's CPU time during a run (empty without /proc/stat)."""

    busy_percent: float
    steal_percent: float  # given by the hypervisor to someone else


class RunSummary(LoadSummary):
    """One Locust run (driver.run_locust): a sweep step's, or the core of a measured run."""

    machine: MachineShares
    # The priority Locust's main process ran with (benchmarks/load/priority.py); runs before
    # the generator was prioritized lack it.
    generator_priority: NotRequired[Granted]


class ComponentUsage(TypedDict):
    cpu_s: float
    peak_mb: float


class CostSummary(TypedDict):
    """Cost of a measured run (docs/METHOD.md, Cost), per successful request, warm-up included."""

    per_1000_ok: dict[str, ComponentUsage]  # component (service, postgres-*, nats-server)
    db_transactions_per_op: dict[str, float]  # service database -> transactions
    bus_per_op: dict[str, float]  # stream and server counters (async)


class MeasuredRun(RunSummary):
    """A scenario run with cost and the services' own counters: <impl>/<label>/summary.json,
    and summary.json's impls.<impl>.runs.<label> (which adds vs_floor)."""

    cost: CostSummary
    service_counters: dict[str, dict[str, int]]  # service -> counter -> increase
    visibility_lag_ms: NotRequired[dict[str, LatencySummary]]  # async: the query service's
    vs_floor: NotRequired[dict[str, float]]  # operation -> p50 / floor
    bare_chain: NotRequired[RunSummary]  # the bare chain of the same shape at the same rate
    vs_bare_chain: NotRequired[dict[str, float]]  # operation -> p50 / the bare chain's p50
    profile: NotRequired[Profiled]  # py-spy's top frames per service, when profiled


# --- capacity --------------------------------------------------------------------------------
class Settled(TypedDict):
    """The wait for an idle machine before a sweep step (benchmarks/suite/settle.py): how long
    it took, the machine's busy share in its last window."""

    wait_s: float
    busy_percent: float | None
    idle: bool  # False: its longest wait passed first


class SweepStep(TypedDict):
    """One step of a capacity sweep (benchmarks/suite/sweep.py)."""

    phase: Literal["pilot", "grid"]
    offered_rate: float
    achieved_rate: float
    p99_ms: float | None  # every operation together, from the scheduled start
    halves_p99_ms: list[float | None]  # the measured window's first and second half
    halves_p50_ms: NotRequired[list[float | None]]  # their medians (steps from 2026-12-07 on)
    error_rate: float
    goodput_rate: float  # answered successfully within the SLO's latency, per second
    generator_lag_p99_ms: float | None
    generator_saturated: bool
    steal_percent: float | None
    meets_slo: bool
    growing: bool  # latency grew past the SLO from the first half to the second: a queue
    valid: bool  # readable as the system's behaviour at this rate (else: flags say why)
    flags: list[str]
    generator_priority: NotRequired[Granted]  # what the generator ran with (driver.run_locust)
    settled: NotRequired[Settled]  # the wait for an idle machine before it (settle.py)


class Slo(TypedDict):
    p99_ms: float
    error_rate: float


class SweepResult(TypedDict):
    """One repetition's capacity steps of a scenario (docs/METHOD.md, Capacity)."""

    slo: Slo
    pilot: list[SweepStep]  # the first repetition only: it chose the grid
    grid: list[float]  # the rates, ascending (the same in every repetition)
    steps: list[SweepStep]  # the grid's steps in the (random) order run


class ScenarioCapacity(SweepResult):
    """The implementation's steps beside the bare chain's of the same shape."""

    bare_chain: NotRequired[SweepResult]  # absent when run with --no-bare-sweep


class Profiled(TypedDict):
    """A CPU profile of every process of a stack during one measured run (py-spy, sampled
    from outside): per service replica, its top frames by own (self) samples."""

    rate_hz: int
    duration_s: float
    services: dict[str, list[tuple[str, float]]]  # "posts-0" -> [(frame, own share of samples)]
    own_code: dict[str, list[tuple[str, float]]]  # the lab's own functions, inclusive shares
    files: dict[str, str]  # "posts-0" -> its flame graph SVG, in the run's profile/ folder
    problems: list[str]  # a process py-spy could not sample, and why


# --- one implementation, the whole run -------------------------------------------------------
class StackSummary(TypedDict):
    services: dict[str, list[str]]  # service -> host:port of each replica


class ImplResult(TypedDict):
    """summary.json's impls.<impl>."""

    impl: str
    stack: StackSummary
    calibration_ms: dict[str, LatencySummary]  # part -> its timings (calibration.calibrate)
    floors_ms: dict[str, float]  # operation -> floor
    runs: dict[str, MeasuredRun]  # "<scenario>@<rate>" or "<scenario>@closed-<users>"
    capacity: dict[str, ScenarioCapacity]  # scenario -> sweeps


class ImplTargets(TypedDict):
    """How close one implementation came to the benchmark's goals (measured, never asserted),
    on the medians over repetitions."""

    p50_over_floor: dict[str, float]  # "<label>/<operation>" -> p50 / calibrated floor
    p50_over_bare_chain: dict[str, float]  # "<label>/<operation>" -> p50 / bare chain's p50
    p50_within_1_5x_bare_chain: bool | None
    invalid_runs: list[str]  # "<label>: rep N: why"
    visibility_lag_p99_ms: dict[str, float] | None  # label -> p99 (async)
    capacity_half_width: dict[str, float | None] | None  # scenario -> CI half-width / capacity
    capacity_within_10_percent: bool | None


# summary.json's targets: the goals (p50_over_bare_chain_max, capacity_relative_range_max:
# numbers) beside one ImplTargets per implementation (keyed by its name, so no TypedDict can say
# which key holds which).
Targets = dict[str, float | ImplTargets]


# --- over repetitions ------------------------------------------------------------------------
class Repetition(TypedDict):
    """One repetition: every implementation measured once, in the order given."""

    rep: int  # from 1
    order: list[str]
    impls: dict[str, ImplResult]


class OperationAggregate(TypedDict):
    latency_ms: dict[str, Spread]  # "p50_ms", "p90_ms", "p99_ms", "p99.9_ms" -> spread
    error_rate: Spread
    vs_floor: Spread | None  # p50 over the calibrated floor, per repetition
    vs_bare_chain: Spread | None  # p50 over the bare chain's at the same rate, per repetition


class RunAggregate(TypedDict):
    """One measured run (scenario at a rate) over the repetitions."""

    scenario: str
    offered_rate: float | None
    achieved_rate: Spread
    operations: dict[str, OperationAggregate]
    lag_ms: dict[str, dict[str, Spread]]  # async: histogram -> percentile -> spread
    probe_ms: dict[str, dict[str, Spread]]  # read_your_writes' own histograms
    cpu_s_per_1000_ok: dict[str, Spread]  # component -> CPU seconds per 1,000 requests
    peak_mb: dict[str, Spread]  # component -> peak resident memory
    invalid: list[str]  # why a repetition's figures cannot be trusted ("rep 2: generator ...")


class CurveFigures(TypedDict):
    """What one load curve (every valid step of every repetition) says, with bootstrap CIs."""

    capacity: Interval  # where the fitted p99 crosses the SLO
    knee: Interval  # where the fitted p99 has doubled from its lowest-rate value
    plateau: Interval  # the maximum sustained goodput (requests/s within the SLO)
    per_repetition: list[float | None]  # each repetition's own crossing (its steps alone)
    per_repetition_kind: list[str]  # estimate, lower_bound, upper_bound or none, per repetition
    half_width: float | None  # the capacity CI's half-width as a share of it
    resolved: bool  # a crossing within the grid, CI half-width within the goal
    steps: int  # valid steps in the fit
    invalid_steps: list[str]  # "rep N at R/s: why"


class CapacityAggregate(TypedDict):
    implementation: CurveFigures
    # Absent when the bare chain was not swept (--no-bare-sweep).
    bare_chain: NotRequired[CurveFigures]
    share_of_bare_chain: NotRequired[Interval]  # capacity / the bare chain's, with its CI


class ImplAggregate(TypedDict):
    floors_ms: dict[str, Spread]
    runs: dict[str, RunAggregate]  # label -> aggregate
    capacity: dict[str, CapacityAggregate]  # scenario -> aggregate


class CapacityComparison(TypedDict):
    """Two implementations' capacities: the second's over the first's, with its CI."""

    ratio: Interval
    verdict: str  # the implementation with the higher capacity, or "~" (the CI spans 1)
    # The second's plateau over the first's, paired by repetition: the figure that repeats
    # across hours (docs/METHOD.md, Does it repeat?). Absent in runs before it was kept.
    plateau_ratio: NotRequired[Interval]


class Comparisons(TypedDict):
    """Each pair of implementations ("A|B"), per figure; a pair is present when both ran."""

    latency: dict[str, dict[str, dict[str, dict[str, Comparison]]]]  # pair -> label -> op -> pct
    capacity: dict[str, dict[str, CapacityComparison]]  # pair -> scenario -> comparison


# The resilience patterns' cost at normal load (benchmarks/suite/overhead.py): sync-resilient
# over sync, paired by repetition.
OverheadReading = Literal["sync lower", "sync-resilient lower", "~", "n/a"]


class OperationOverhead(TypedDict):
    p50_ratio: Spread | None  # sync-resilient p50 / sync p50, one value per repetition
    p99_ratio: Spread | None
    p50_verdict: OverheadReading  # the two sides' p50 ranges over the repetitions (Noise)


class RunOverhead(TypedDict):
    operations: dict[str, OperationOverhead]
    # CPU seconds per 1,000 successful requests of the four service processes together,
    # sync-resilient / sync, per repetition (their databases do the same work in both).
    services_cpu_ratio: Spread | None


class SummaryDocument(TypedDict):
    """results/<run-id>/summary.json."""

    run_id: str
    machine: MachineMeta
    profile: str
    repetitions: int
    reps: list[Repetition]
    aggregate: dict[str, ImplAggregate]  # impl -> its figures over the repetitions
    comparisons: Comparisons
    targets: Targets
    pattern_overhead: NotRequired[dict[str, RunOverhead]]  # label -> (when both sync variants ran)
