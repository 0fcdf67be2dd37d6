"""Capacity steps (docs/METHOD.md, Capacity): a short pilot finds roughly where the SLO breaks,
then a fixed grid of offered rates around it is run, each rate one step, in random order; the
grid is kept for every later repetition, so that the steps of all repetitions are points of one
load curve. The curve, its capacity and their confidence intervals are
benchmarks/suite/capacity_fit.py's, over all repetitions (benchmarks/suite/aggregate.py).

Every step is kept. One that cannot be read as the system's behaviour is marked invalid, with
the reason, and left out of the fit: the generator fell behind its schedule (an arrival it
could not send, or its send lag beyond GENERATOR_LAG_P99_MS), fewer than 98 % of the requests
it scheduled finished, or its two halves disagree with one of them within the SLO and the other
not by a stall (a pause that passed, not a property of the rate). A step whose second half is
the worse one beyond the SLO, its median risen too, is a queue growing: the rate is past
capacity, and the step counts as such.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Literal, TypedDict

from benchmarks.noise.sampler import NoiseSampler
from benchmarks.suite.context import Load, RunContext
from benchmarks.suite.driver import run_locust, users_for
from benchmarks.suite.profiles import (
    HALVES_FACTOR,
    QUEUE_P50_FACTOR,
    SLO_ERROR_RATE,
    SLO_P99_MS,
    Profile,
)
from benchmarks.suite.results import (
    LoadSummary,
    ScenarioCapacity,
    SweepResult,
    SweepStep,
)
from benchmarks.suite.seeding import wait_quiet
from benchmarks.suite.settle import settle
from benchmarks.suite.sweep_layout import grid_step_dir, sweep_dir

SWEEP_WARMUP_S = 2.0
MIN_ACHIEVED_SHARE = 0.98
PILOT_TRIES = 2  # runs of a pilot rate whose step was invalid (no verdict)
# What the noise sources did during each step is kept beside its raw files, in this file
# (benchmarks/noise/sweeps.py reads it: docs/METHOD.md, Noise).
NOISE_FILE = "noise.json"


def meets_slo(run: LoadSummary) -> bool:
    p99 = run["latency_ms"].get("p99_ms")
    return p99 is not None and p99 <= SLO_P99_MS and run["error_rate"] <= SLO_ERROR_RATE


def queue_grew(halves_p50_ms: list[float | None] | None) -> bool:
    """Whether the halves' medians say a queue grew: a queue delays every request behind it, so
    the median rises with the tail (by QUEUE_P50_FACTOR or more); a stall of a few hundred
    milliseconds reaches only the requests in flight then, a percent or two, and leaves the
    median where it was. Without the medians (a run recorded before them), True: the rule those
    steps were judged by."""
    if not halves_p50_ms or None in halves_p50_ms:
        return True
    first, second = halves_p50_ms
    assert first is not None and second is not None
    return second >= QUEUE_P50_FACTOR * first


def flags(run: LoadSummary) -> tuple[list[str], bool]:
    """Why a step cannot be read as the system's behaviour at its rate (empty: valid), and
    whether its latency grew from the first half to the second past the SLO (a queue
    growing: over capacity, and valid as such). Halves that disagree with the first the worse
    make a step invalid only when the second meets the SLO."""
    why = []
    if run["generator_overflow"]:
        why.append(f"generator could not send {run['generator_overflow']} arrivals")
    lag = run["generator_lag_ms"].get("p99_ms")
    if run["generator_behind"] and lag is not None:
        why.append(f"generator send lag p99 {lag:.1f} ms")
    # Arrivals are Poisson, so the achieved rate varies around the offered one by chance: what
    # matters is whether every arrival the generator scheduled was answered.
    if run["arrivals"] and run["requests"] < MIN_ACHIEVED_SHARE * run["arrivals"]:
        why.append(f"only {run['requests']} of {run['arrivals']} scheduled requests finished")
    first, second = run["halves_p99_ms"]
    growing = False
    if first and second and max(first, second) > HALVES_FACTOR * min(first, second):
        if second > first and second > SLO_P99_MS:
            if queue_grew(run.get("halves_p50_ms")):
                growing = True
            elif first <= SLO_P99_MS:
                # The tail alone grew, the bulk of the requests did not wait longer: a stall
                # (a pause somewhere in the stack), not a queue; the rate's verdict is unknown.
                # (Both halves over the SLO: a miss either way.)
                why.append(f"a stall in the second half: p99 {first:.0f} ms then {second:.0f} ms")
        elif first > SLO_P99_MS >= second:
            # A stall that passed: the second half met the SLO, so the rate's verdict is
            # unknown. Both halves over it is a miss either way (aggregate.point).
            why.append(f"not stationary: p99 {first:.0f} ms then {second:.0f} ms")
    return why, growing


class Verdict(TypedDict):
    """What a step's run says of its rate (the SweepStep keys `judge` decides)."""

    meets_slo: bool
    growing: bool
    valid: bool
    flags: list[str]


def judge(run: LoadSummary) -> Verdict:
    """A step's verdict from its run, by today's rules (`flags`, `meets_slo`): the sweep's, and
    benchmarks/suite/rejudge.py's for a run recorded by an earlier commit."""
    why, growing = flags(run)
    return {
        "meets_slo": meets_slo(run) and not growing,
        "growing": growing,
        "valid": not why,
        "flags": why,
    }


def step(
    ctx: RunContext,
    scenario: str,
    rate: float,
    bare_routes: Path | None,
    out: Path,
    phase: Literal["pilot", "grid"],
) -> SweepStep:
    """One step at `rate`: its own warm-up, long enough for the profile's requests."""
    if "bus" in ctx.stack:
        # An overloaded step leaves a backlog of events behind it; the next step must not pay
        # for it (it would measure the previous step, not its own rate).
        wait_quiet(ctx.stack, timeout_s=120)
    settled = settle(max_wait_s=ctx.profile.settle_max_s)
    if settled["wait_s"] >= 3 or not settled["idle"]:
        busy = settled["busy_percent"]
        ctx.say(
            f"      waited {settled['wait_s']:.0f} s for an idle machine"
            + ("" if settled["idle"] else f" (still {busy or 0:.0f} % busy: went on)")
        )
    profile = ctx.profile
    duration = max(profile.sweep_duration_s, profile.sweep_min_requests / rate)
    if phase == "pilot":
        duration = profile.pilot_duration_s
    load = Load(scenario, rate, users_for(rate, 0), duration, SWEEP_WARMUP_S, bare_routes)
    sampler = NoiseSampler(ctx.stack)
    sampler.start()
    run = run_locust(ctx, load, out)
    noise = sampler.stop(settle_s=profile.noise_stats_settle_s)
    (out / NOISE_FILE).write_text(json.dumps(asdict(noise), indent=1))
    verdict = judge(run)
    result: SweepStep = {
        "phase": phase,
        "offered_rate": rate,
        "achieved_rate": run["achieved_rate"],
        "p99_ms": run["latency_ms"].get("p99_ms"),
        "halves_p99_ms": run["halves_p99_ms"],
        "halves_p50_ms": run["halves_p50_ms"],
        "error_rate": run["error_rate"],
        "goodput_rate": run["goodput_rate"],
        "generator_lag_p99_ms": run["generator_lag_ms"].get("p99_ms"),
        "generator_saturated": run["generator_saturated"],
        "steal_percent": run["machine"].get("steal_percent"),
        **verdict,
        "settled": settled,
    }
    if "generator_priority" in run:
        result["generator_priority"] = run["generator_priority"]
    p99 = result["p99_ms"]
    ctx.say(
        f"      p99={'-' if p99 is None else f'{p99:.1f}'} ms errors={run['error_rate']:.2%} "
        f"goodput={run['goodput_rate']:.0f}/s -> "
        f"{'meets' if result['meets_slo'] else 'misses'} the SLO"
        + (f" [invalid: {'; '.join(verdict['flags'])}]" if verdict["flags"] else "")
        + (" [latency growing]" if verdict["growing"] else "")
    )
    return result


def pilot(
    ctx: RunContext, scenario: str, bare_routes: Path | None, prefix: Path
) -> list[SweepStep]:
    """The profile's pilot rates in order, short steps, until one misses the SLO (by
    `pilot_meets`). An invalid step's rate is run again, up to PILOT_TRIES times; the last
    try's verdict stands."""
    steps: list[SweepStep] = []
    for rate in ctx.profile.pilot_rates:
        for attempt in range(1, PILOT_TRIES + 1):
            again = f", again ({attempt}/{PILOT_TRIES})" if attempt > 1 else ""
            ctx.say(
                f"[{ctx.impl}] capacity pilot {scenario} ({_what(ctx, bare_routes)}): "
                f"{rate:g}/s{again}"
            )
            name = f"pilot@{rate:g}" + (f"-{attempt}" if attempt > 1 else "")
            steps.append(step(ctx, scenario, rate, bare_routes, prefix / name, "pilot"))
            if steps[-1]["valid"]:
                break
        if not pilot_meets(steps[-1]):
            break
    return steps


def pilot_meets(s: SweepStep) -> bool:
    """Whether the pilot takes a step's rate as within the SLO. The pilot only places the grid
    (the grid's steps decide), and its steps are short (3 s): the first second or so of a step
    can catch a transient the rest of it does not show (on this machine, at 100-200/s on a
    fresh stack: halves of 61 and 11 ms, 85 and 14 ms, with the generator's send lag up to
    44 ms), and judged by the whole step such a miss once put a bare chain's grid at
    50-240/s, far below its capacity. So an invalid step is judged by its better half (the one
    without the transient or the stall): within the SLO there, without errors beyond it or a
    queue growing, the rate is met."""
    if s["valid"]:
        return s["meets_slo"]
    halves = [h for h in s["halves_p99_ms"] if h is not None]
    return (
        bool(halves)
        and min(halves) <= SLO_P99_MS
        and s["error_rate"] <= SLO_ERROR_RATE
        and not s["growing"]
    )


def grid(pilot_steps: list[SweepStep], profile: Profile) -> list[float]:
    """The rates to run: `grid_points` evenly from half the highest rate the pilot met to 1.2
    times the first it missed (or, if it missed none, up to its highest rate's 1.5 times). A
    rate the pilot ran again counts by its last try, judged by `pilot_meets`."""
    verdict = {s["offered_rate"]: pilot_meets(s) for s in pilot_steps}  # the last try's
    met = [rate for rate, meets in verdict.items() if meets]
    missed = [rate for rate, meets in verdict.items() if not meets]
    top = 1.2 * min(missed) if missed else 1.5 * max(met)
    bottom = 0.5 * (max(met) if met else min(missed) / 2)
    n = profile.grid_points
    return [float(round(bottom + (top - bottom) * i / (n - 1), -1) or 10) for i in range(n)]


def sweep(
    ctx: RunContext,
    scenario: str,
    bare_routes: Path | None,
    rates: list[float] | None,
    rng: random.Random,
) -> SweepResult:
    """The grid (from a pilot when `rates` is None), its steps in random order."""
    what = _what(ctx, bare_routes)
    prefix = sweep_dir(ctx.impl_dir, scenario, bare=bare_routes is not None)
    pilot_steps = pilot(ctx, scenario, bare_routes, prefix) if rates is None else []
    rates = rates or grid(pilot_steps, ctx.profile)
    order = list(rates)
    rng.shuffle(order)
    steps = []
    for n, rate in enumerate(order, 1):
        ctx.say(f"[{ctx.impl}] capacity {scenario} ({what}): {rate:g}/s ({n}/{len(order)})")
        steps.append(step(ctx, scenario, rate, bare_routes, grid_step_dir(prefix, rate), "grid"))
    return {
        "slo": {"p99_ms": SLO_P99_MS, "error_rate": SLO_ERROR_RATE},
        "pilot": pilot_steps,
        "grid": rates,
        "steps": steps,
    }


def _what(ctx: RunContext, bare_routes: Path | None) -> str:
    return "bare chain" if bare_routes else ctx.impl


def capacities(
    ctx: RunContext, routes: Path, grids: dict[str, list[float]], rng: random.Random
) -> dict[str, ScenarioCapacity]:
    """Each of the profile's sweep scenarios on the stack and (unless the run was told
    --no-bare-sweep) on the bare chain of the same shape beside it. `grids` holds the rates of
    each (impl, scenario, chain) once a pilot has chosen them (the first repetition's), and is
    filled here."""
    out: dict[str, ScenarioCapacity] = {}
    for scenario in ctx.profile.sweep_scenarios:
        key = f"{ctx.impl}/{scenario}"
        real = sweep(ctx, scenario, None, grids.get(key), rng)
        grids[key] = real["grid"]
        out[scenario] = {**real}
        if ctx.config.bare_sweep:
            chain = sweep(ctx, scenario, routes, grids.get(f"{key}/bare"), rng)
            grids[f"{key}/bare"] = chain["grid"]
            out[scenario]["bare_chain"] = chain
    return out
