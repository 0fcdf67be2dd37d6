"""The noise study's numbers: each run's figures (its p99 beside what each noise source did),
their spread per implementation and variant, and how each source goes with the p99
(docs/METHOD.md, Noise). Pure functions of the runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.noise.sampler import BARE_CHAIN, GENERATOR, NoiseSample


@dataclass(frozen=True)
class RunFigures:
    """One measured run: what it measured, and its noise sources reduced to one number each.
    Waits are in ms per second of the run: the average number of the group's threads that
    waited for a CPU."""

    variant: str
    impl: str
    block: int  # which stack (a fresh one per block)
    step: int  # the run's place on its stack
    offered_rate: float
    achieved_rate: float
    p99_ms: float | None
    error_rate: float
    generator_behind: bool
    generator_saturated: bool
    # Why the run cannot be read as the system's behaviour at its rate, by the capacity steps'
    # rule (benchmarks/suite/sweep.py: flags); empty: valid.
    flags: list[str]
    stall_share: float | None  # CPU pressure: share of the run some task waited for a CPU
    steal_percent: float | None
    wait_services: float
    wait_postgres: float
    wait_bus: float
    wait_generator: float
    checkpoints: int
    autovacuum_runs: int  # autovacuum + autoanalyze
    wal_sync_ms_per_s: float | None
    gc_max_pause_ms: float | None
    gc_gen2_collections: int

    @property
    def valid(self) -> bool:
        return not self.flags


# The sources beside each run's p99, in the tables' order: (attribute, heading).
SOURCES: tuple[tuple[str, str], ...] = (
    ("stall_share", "CPU pressure %"),
    ("steal_percent", "steal %"),
    ("wait_services", "wait: services"),
    ("wait_postgres", "wait: PostgreSQL"),
    ("wait_bus", "wait: nats"),
    ("wait_generator", "wait: generator"),
    ("checkpoints", "checkpoints"),
    ("autovacuum_runs", "autovacuum"),
    ("wal_sync_ms_per_s", "WAL fsync ms/s"),
    ("gc_max_pause_ms", "GC max pause ms"),
    ("gc_gen2_collections", "GC gen2"),
)


def group_of(component: str) -> str:
    if component.startswith("postgres-"):
        return "postgres"
    if component == "nats-server":
        return "bus"
    if component in (GENERATOR, BARE_CHAIN):
        return component
    return "services"


@dataclass(frozen=True)
class RunOutcome:
    """What the table needs of a Locust run's summary."""

    offered_rate: float
    achieved_rate: float
    p99_ms: float | None
    error_rate: float
    generator_behind: bool
    generator_saturated: bool
    flags: list[str]


def run_figures(
    variant: str,
    impl: str,
    block: int,
    step: int,
    run: RunOutcome,
    sample: NoiseSample,
) -> RunFigures:
    seconds = sample.duration_s or 1.0
    waits: dict[str, float] = {}
    for component, wait in sample.run_queue.items():
        group = group_of(component)
        waits[group] = waits.get(group, 0.0) + wait.wait_ms / seconds
    pg = sample.postgres.values()
    syncs = [c.wal_sync_ms for c in pg if c.wal_sync_ms is not None]
    pauses = [
        g.pause_max_ms for gens in sample.gc.values() for g in gens.values() if g.pause_max_ms
    ]
    return RunFigures(
        variant=variant,
        impl=impl,
        block=block,
        step=step,
        offered_rate=run.offered_rate,
        achieved_rate=run.achieved_rate,
        p99_ms=run.p99_ms,
        error_rate=run.error_rate,
        generator_behind=run.generator_behind,
        generator_saturated=run.generator_saturated,
        flags=list(run.flags),
        stall_share=sample.pressure.stall_share,
        steal_percent=sample.machine.get("steal_percent"),
        wait_services=waits.get("services", 0.0),
        wait_postgres=waits.get("postgres", 0.0),
        wait_bus=waits.get("bus", 0.0),
        wait_generator=waits.get(GENERATOR, 0.0),
        checkpoints=sum(c.checkpoints_timed + c.checkpoints_requested for c in pg),
        autovacuum_runs=sum(c.autovacuum_runs + c.autoanalyze_runs for c in pg),
        wal_sync_ms_per_s=sum(syncs) / seconds if syncs else None,
        gc_max_pause_ms=max(pauses, default=None),
        gc_gen2_collections=sum(gens["gen2"].collections for gens in sample.gc.values()),
    )


@dataclass(frozen=True)
class Spread:
    """The p99 over a variant's runs: the figure of merit is how much it moves."""

    runs: int
    invalid: int
    median_ms: float | None
    min_ms: float | None
    max_ms: float | None
    cv: float | None  # coefficient of variation: stdev / mean (n - 1)
    max_over_min: float | None


def p99_spread(runs: Sequence[RunFigures]) -> Spread:
    p99s = [r.p99_ms for r in runs if r.p99_ms is not None]
    invalid = sum(1 for r in runs if not r.valid)
    if not p99s:
        return Spread(len(runs), invalid, None, None, None, None, None)
    mean = statistics.fmean(p99s)
    cv = statistics.stdev(p99s) / mean if len(p99s) > 1 and mean else None
    low, high = min(p99s), max(p99s)
    return Spread(
        len(runs), invalid, statistics.median(p99s), low, high, cv, high / low if low else None
    )


def median_of(runs: Sequence[RunFigures], attribute: str) -> float | None:
    values = [v for r in runs if (v := getattr(r, attribute)) is not None]
    return statistics.median(values) if values else None


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None with fewer than 3 pairs or a constant side."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if not sxx or not syy:
        return None
    return sxy / math.sqrt(sxx * syy)


def correlation(runs: Sequence[RunFigures], attribute: str) -> tuple[float | None, int]:
    """Spearman's rho between the runs' p99 and one source, over the runs that have both."""
    pairs = [
        (float(v), r.p99_ms)
        for r in runs
        if r.p99_ms is not None and (v := getattr(r, attribute)) is not None
    ]
    return spearman([x for x, _ in pairs], [y for _, y in pairs]), len(pairs)
