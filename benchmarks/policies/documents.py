"""The documents `lab bench --causality` writes: one per probe run, run under load and run under a
fault, the spreads over repetitions, and summary.json, which holds them all (docs/METHOD.md,
Causality across services)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from benchmarks.load.hdr import LatencySummary
from benchmarks.suite.stats import Spread
from lab.runs.machine import MachineMeta

# The comments service's causality counters read over each run (every replica summed).
SERVER_COUNTERS = (
    "comments_unknown_post",
    "comments_waited",
    "comments_held",
    "comments_rejected_unknown_post",
    "causality_wakeups_local",
    "causality_wakeups_notify",
)


class BadInput(TypedDict):
    answers: dict[str, int]  # NOT_FOUND, REJECTED, other status names, or TIMEOUT
    time_ms: LatencySummary  # send -> the answer (accept: -> REJECTED seen)


class ProbeRun(TypedDict):
    """One variant on one fresh stack."""

    variant: str  # sync, or async-<policy>
    impl: str
    policy: str | None
    repetition: int
    comments: int
    refused_first_try: int
    refusals_per_1000: float
    never_acknowledged: int
    never_final: int
    create_comment_ms: LatencySummary  # the first call, whatever it answered
    acknowledged_ms: LatencySummary  # first send -> accepted (retries after refusals included)
    final_status_ms: LatencySummary  # acknowledgement -> final status in GetPostView
    send_to_final_ms: LatencySummary  # first send -> final status in GetPostView
    bad_input: BadInput
    bad_input_with_token: BadInput
    server: dict[str, int]  # the comments service's counters over the run (every replica)
    server_wait_ms: LatencySummary  # wait: how long comments with a token waited (server side)
    duration_s: float


class MixedRun(TypedDict):
    """One variant under the scenario's load, on the stack its probe ran on."""

    variant: str
    impl: str
    policy: str | None
    repetition: int
    scenario: str
    offered_rate: float
    achieved_rate: float
    duration_s: float  # the measured window
    error_rate: float  # every operation
    comments: int  # CreateComment requests in the measured window, answered or not
    refused: int  # of them, NOT_FOUND
    refusals_per_1000: float | None  # None without a CreateComment
    comment_errors: dict[str, int]  # status name -> count, NOT_FOUND included
    create_comment_ms: LatencySummary  # successful ones, from the scheduled start
    comment_status_lag_ms: LatencySummary  # async: creation -> final status in the view
    server: dict[str, int]  # the comments service's causality counters over the run
    generator_saturated: bool
    steal_percent: float | None


class CommentOutcomes(TypedDict):
    """CreateComment requests of a chaos experiment scheduled in one phase."""

    requests: int
    ok: int
    refused: int  # NOT_FOUND
    errors: dict[str, int]  # every other status name -> count
    availability: float | None  # ok / requests; None without a request
    refusals_per_1000: float | None


class CommentAudit(TypedDict):
    """The chaos audit's counts for the comments (lab/chaos/audit.py)."""

    attempted: int
    acknowledged: int
    lost: int
    duplicated: int
    unexpected: int
    indeterminate: int
    recovered: int


class FaultRun(TypedDict):
    """One variant under one fault (a chaos experiment on a fresh stack)."""

    variant: str
    impl: str
    policy: str | None
    repetition: int
    fault: str
    valid: bool  # the experiment's verdict: audit valid, every activity succeeded
    hold_s: float | None  # how long the fault was held
    during: CommentOutcomes
    after: CommentOutcomes  # from the restore to the end of the load
    create_comment_p99_during_ms: float | None  # successful ones
    recovery_s: float | None  # restore -> CreateComment back at >= 99 %
    convergence_s: float | None  # async: restore -> the read model holds every write acked before
    catch_up_refused: int | None  # NOT_FOUND on posts acknowledged >= 1 s before
    audit: CommentAudit
    rejected_unknown_post: int | None  # accept: held past the bound, REJECTED (server counter)
    directory: str  # the experiment's files, relative to the run's


class FaultAggregate(TypedDict):
    """One variant under one fault over its runs: spreads (None: no run measured the figure),
    and the audit's totals."""

    runs: int
    valid_runs: int
    comment_availability_during_percent: Spread | None
    refusals_per_1000_during: Spread | None
    refusals_per_1000_after: Spread | None
    create_comment_p99_during_ms: Spread | None
    recovery_s: Spread | None
    convergence_s: Spread | None
    acknowledged: int  # comments, summed over the runs
    indeterminate: int
    lost: int
    rejected_unknown_post: int | None  # summed over the runs; None: not counted (not accept)


class CausalitySummary(TypedDict):
    """summary.json: every run, and per variant each figure's spread over its runs; the load's
    and the faults' only when the comparison ran them."""

    run_id: str
    kind: str  # "causality"
    machine: MachineMeta
    runs: dict[str, list[ProbeRun]]  # variant -> its runs in order
    aggregate: dict[str, dict[str, Spread | None]]  # variant -> figure -> spread (None: none)
    mixed: NotRequired[dict[str, list[MixedRun]]]
    mixed_aggregate: NotRequired[dict[str, dict[str, Spread | None]]]
    faults: NotRequired[dict[str, dict[str, list[FaultRun]]]]  # fault -> variant -> runs
    faults_aggregate: NotRequired[dict[str, dict[str, FaultAggregate]]]
