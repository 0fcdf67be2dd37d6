"""The spreads of `lab bench --causality` over repetitions: per variant and figure, the median
of its runs, their min-max and every value (benchmarks/suite/stats.py, Spread; docs/METHOD.md,
Noise), for the probe, the load and the faults; None for a figure no run measured. The audit's
counts under a fault are summed over the runs instead."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.policies.documents import FaultAggregate, FaultRun, MixedRun, ProbeRun
from benchmarks.suite.stats import Spread, spread

FIGURES: dict[str, Callable[[ProbeRun], float | None]] = {
    "refusals_per_1000": lambda r: r["refusals_per_1000"],
    "create_comment_p50_ms": lambda r: r["create_comment_ms"].get("p50_ms"),
    "create_comment_p99_ms": lambda r: r["create_comment_ms"].get("p99_ms"),
    "acknowledged_p50_ms": lambda r: r["acknowledged_ms"].get("p50_ms"),
    "acknowledged_p99_ms": lambda r: r["acknowledged_ms"].get("p99_ms"),
    "final_status_p50_ms": lambda r: r["final_status_ms"].get("p50_ms"),
    "final_status_p99_ms": lambda r: r["final_status_ms"].get("p99_ms"),
    "send_to_final_p50_ms": lambda r: r["send_to_final_ms"].get("p50_ms"),
    "send_to_final_p99_ms": lambda r: r["send_to_final_ms"].get("p99_ms"),
    "bad_input_p50_ms": lambda r: r["bad_input"]["time_ms"].get("p50_ms"),
    "bad_input_token_p50_ms": lambda r: r["bad_input_with_token"]["time_ms"].get("p50_ms"),
}


def aggregate(runs: list[ProbeRun]) -> dict[str, Spread | None]:
    """Per figure of the probe: its spread over the runs."""
    return {name: spread([get(r) for r in runs]) for name, get in FIGURES.items()}


MIXED_FIGURES: dict[str, Callable[[MixedRun], float | None]] = {
    "refusals_per_1000": lambda r: r["refusals_per_1000"],
    "create_comment_p50_ms": lambda r: r["create_comment_ms"].get("p50_ms"),
    "create_comment_p99_ms": lambda r: r["create_comment_ms"].get("p99_ms"),
    "comment_status_lag_p50_ms": lambda r: r["comment_status_lag_ms"].get("p50_ms"),
    "comment_status_lag_p99_ms": lambda r: r["comment_status_lag_ms"].get("p99_ms"),
    "achieved_rate": lambda r: r["achieved_rate"],
    "error_rate_percent": lambda r: 100 * r["error_rate"],
}


def mixed_aggregate(runs: list[MixedRun]) -> dict[str, Spread | None]:
    """Per figure of the runs under load: its spread over the runs."""
    return {name: spread([get(r) for r in runs]) for name, get in MIXED_FIGURES.items()}


def fault_aggregate(runs: list[FaultRun]) -> FaultAggregate:
    """One variant under one fault: each figure's spread over the runs, the audit summed."""

    def percent(share: float | None) -> float | None:
        return None if share is None else 100 * share

    return {
        "runs": len(runs),
        "valid_runs": sum(r["valid"] for r in runs),
        "comment_availability_during_percent": spread(
            [percent(r["during"]["availability"]) for r in runs]
        ),
        "refusals_per_1000_during": spread([r["during"]["refusals_per_1000"] for r in runs]),
        "refusals_per_1000_after": spread([r["after"]["refusals_per_1000"] for r in runs]),
        "create_comment_p99_during_ms": spread([r["create_comment_p99_during_ms"] for r in runs]),
        "recovery_s": spread([r["recovery_s"] for r in runs]),
        "convergence_s": spread([r["convergence_s"] for r in runs]),
        "acknowledged": sum(r["audit"]["acknowledged"] for r in runs),
        "indeterminate": sum(r["audit"]["indeterminate"] for r in runs),
        "lost": sum(r["audit"]["lost"] for r in runs),
        "rejected_unknown_post": (
            None
            if all(r["rejected_unknown_post"] is None for r in runs)
            else sum(r["rejected_unknown_post"] or 0 for r in runs)
        ),
    }
