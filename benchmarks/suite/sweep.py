"""Capacity (docs/METHOD.md, Capacity): step the offered rate until the SLO fails, for the
implementation and for a bare chain of the same shape; the capacity is the highest rate that met
the SLO, and the implementation's share of the bare chain's says what its own work costs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from benchmarks.suite.context import Load, RunContext
from benchmarks.suite.driver import run_locust, users_for
from benchmarks.suite.profiles import SLO_ERROR_RATE, SLO_P99_MS, Profile
from benchmarks.suite.results import (
    RunSummary,
    ScenarioCapacity,
    SweepOutcome,
    SweepResult,
    SweepStep,
)
from benchmarks.suite.seeding import wait_quiet
from benchmarks.suite.stats import over_bare_chain, share_of_bare_chain

SWEEP_WARMUP_S = 2.0


def meets_slo(run: RunSummary) -> bool:
    p99 = run["latency_ms"].get("p99_ms")
    return (
        p99 is not None
        and p99 <= SLO_P99_MS
        and run["error_rate"] <= SLO_ERROR_RATE
        and not run["generator_saturated"]
    )


def met(steps: Sequence[SweepOutcome], rate: float) -> bool:
    """A rate meets the SLO unless every run at it missed (a miss is always run twice)."""
    return any(s["meets_slo"] for s in steps if s["offered_rate"] == rate)


def capacity(steps: Sequence[SweepOutcome]) -> float | None:
    """The highest offered rate that met the SLO below every rate that missed it."""
    rates = {s["offered_rate"] for s in steps}
    ceiling = min((r for r in rates if not met(steps, r)), default=math.inf)
    return max((r for r in rates if met(steps, r) and r < ceiling), default=None)


def next_rate(steps: Sequence[SweepOutcome], profile: Profile) -> float | None:
    """The stepped sweep: the profile's rates in order until one misses the SLO, then
    `refine_steps` bisections between the capacity so far and the lowest rate missed."""
    tried = [s["offered_rate"] for s in steps]
    last = steps[-1] if steps else None
    if last and not last["meets_slo"] and tried.count(last["offered_rate"]) == 1:
        # A miss is confirmed by a second run at the same rate before the sweep believes it:
        # one stall of the machine (a noisy neighbour) can cost an 8 s step its p99.
        return float(last["offered_rate"])
    if all(met(steps, r) for r in tried):
        remaining = [r for r in profile.sweep_rates if r not in tried]
        return remaining[0] if remaining else None
    refinements = len({r for r in tried if r not in profile.sweep_rates})
    low = capacity(steps) or 0.0  # the ladder's first rate missed: bisect below it
    high = min(r for r in tried if not met(steps, r))
    if refinements >= profile.refine_steps:
        return None
    middle = float(round((low + high) / 2))
    return None if middle in tried or middle <= low else middle


def sweep(ctx: RunContext, scenario: str, bare_routes: Path | None) -> SweepResult:
    """Stepped offered rates until the SLO fails: the capacity is the last rate that met it.
    With bare_routes, the same sweep against the bare chain."""
    steps: list[SweepStep] = []
    what = "bare chain" if bare_routes else ctx.impl
    while (rate := next_rate(steps, ctx.profile)) is not None:
        if "bus" in ctx.stack:
            # An overloaded step leaves a backlog of events behind it; the next step must not
            # pay for it (it would measure the previous step, not its own rate).
            wait_quiet(ctx.stack, timeout_s=120)
        users = users_for(rate, 0)
        ctx.say(f"[{ctx.impl}] capacity sweep {scenario} ({what}): {rate:g}/s ...")
        prefix = "bare-sweep" if bare_routes else "sweep"
        attempt = 1 + sum(1 for s in steps if s["offered_rate"] == rate)
        retry = f"-try{attempt}" if attempt > 1 else ""  # a repeated rate gets its own files
        out = ctx.impl_dir / f"{prefix}-{scenario}@{rate:g}{retry}"
        duration = max(ctx.profile.sweep_duration_s, ctx.profile.sweep_min_requests / rate)
        load = Load(scenario, rate, users, duration, SWEEP_WARMUP_S, bare_routes)
        run = run_locust(ctx, load, out)
        passed = meets_slo(run)
        steps.append(
            {
                "offered_rate": rate,
                "achieved_rate": run["achieved_rate"],
                "p99_ms": run["latency_ms"].get("p99_ms"),
                "error_rate": run["error_rate"],
                "generator_saturated": run["generator_saturated"],
                "steal_percent": run["machine"].get("steal_percent"),
                "meets_slo": passed,
            }
        )
        ctx.say(
            f"      p99={run['latency_ms'].get('p99_ms', float('nan')):.1f} ms "
            f"errors={run['error_rate']:.2%} -> {'meets' if passed else 'misses'} the SLO"
        )
    best = capacity(steps)
    return {
        "slo": {"p99_ms": SLO_P99_MS, "error_rate": SLO_ERROR_RATE},
        "capacity_rate": best,
        "steps": steps,
        "note": None
        if any(not met(steps, s["offered_rate"]) for s in steps)
        else "never missed: capacity is higher",
    }


def compare(real: SweepResult, chain: SweepResult) -> ScenarioCapacity:
    """The implementation's sweep with the bare chain's beside it."""
    return {
        **real,
        "bare_chain": chain,
        "share_of_bare_chain": share_of_bare_chain(real["capacity_rate"], chain["capacity_rate"]),
        # The bare chain met the SLO at every rate tried: its capacity is higher still, so the
        # share is at most this.
        "share_is_upper_bound": chain["note"] is not None,
        # The bare chain does strictly less work than the implementation: a capacity above its
        # own is the noise of the machine, never a share over 100 % (docs/METHOD.md, Capacity).
        "over_bare_chain": over_bare_chain(real["capacity_rate"], chain["capacity_rate"]),
    }


def capacities(ctx: RunContext, routes: Path) -> dict[str, ScenarioCapacity]:
    """Sweep each of the profile's sweep scenarios, on the stack and on the bare chain of the
    same shape running beside it (its routes file), one after the other."""
    return {
        scenario: compare(sweep(ctx, scenario, None), sweep(ctx, scenario, routes))
        for scenario in ctx.profile.sweep_scenarios
    }
