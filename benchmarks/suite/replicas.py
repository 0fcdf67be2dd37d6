"""`lab bench --replicas 1,2,3`: the same load against 1, 2, 3 replicas of the consuming services,
interleaved and repeated; per replica count the achieved rate, the async lag (visibility and
comment status, from the query service's own histograms) and, per replica, the events it
applied, the duplicates it skipped and its delivery delay (stream publish -> processing), so the
spread of the work and anything processed twice show (docs/METHOD.md, Consistency)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from statistics import median
from typing import TypedDict

from benchmarks.load.hdr import merge, summary
from benchmarks.suite.context import BenchConfig, Load, RunContext, say
from benchmarks.suite.driver import users_for
from benchmarks.suite.measured import measured_run
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.results import LatencySummary
from benchmarks.suite.seeding import seed
from blog.rpc.metrics import fetch as fetch_metrics
from lab.stack.runner import fresh_stack
from lab.stack.stackfile import StackInfo

# The services that consume events in the async implementation (and that are called, in sync).
REPLICATED = ("comments", "moderation", "query")
DEFAULT_SCENARIO = "write_heavy"


class ReplicaShare(TypedDict):
    address: str
    events_applied: int
    events_duplicate: int
    delivery_delay_ms: LatencySummary


class ReplicaRun(TypedDict):
    """One run at one replica count."""

    replicas: int
    repetition: int
    offered_rate: float
    achieved_rate: float
    error_rate: float
    latency_ms: LatencySummary
    visibility_lag_ms: dict[str, LatencySummary]  # async: visibility_lag_us, comment_status_lag_us
    per_replica: dict[str, list[ReplicaShare]]  # service -> one entry per replica


def shares(stack: StackInfo) -> dict[str, list[ReplicaShare]]:
    """Per consuming service and replica: what it applied, skipped, and how long events waited."""
    found: dict[str, list[ReplicaShare]] = {}
    for service in REPLICATED:
        for address in stack["services"][service]:
            snap = fetch_metrics(address)
            delay = snap.histograms.get("delivery_delay_us")
            found.setdefault(service, []).append(
                {
                    "address": address,
                    "events_applied": int(snap.counters.get("events_applied", 0)),
                    "events_duplicate": int(snap.counters.get("events_duplicate", 0)),
                    "delivery_delay_ms": summary(merge([delay])) if delay else {"count": 0},
                }
            )
    return found


def replica_run(
    impl: str, count: int, repetition: int, config: BenchConfig, run_dir: Path
) -> ReplicaRun:
    profile = PROFILES[config.profile]
    scenario = (config.scenarios or [DEFAULT_SCENARIO])[0]
    label = f"replicas-{count}-run{repetition}"
    impl_dir = run_dir / impl
    out_dir = impl_dir / label
    out_dir.mkdir(parents=True, exist_ok=True)
    replicas = dict.fromkeys(REPLICATED, count)
    say(config, f"[{impl}] {count} replica(s) of {', '.join(REPLICATED)}, run {repetition} ...")
    with fresh_stack(impl, replace(config.stack, replicas=replicas)) as stack_obj:
        stack = stack_obj.describe()
        seed_file = out_dir / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(stack, profile.seed_posts, random.Random(1))))
        ctx = RunContext(impl, stack, stack_obj.stack_file, out_dir, seed_file, config)
        duration = config.duration_s or profile.duration_s
        load = Load(scenario, config.rate, users_for(config.rate, config.users), duration, 3.0)
        for service in REPLICATED:  # the measured window alone in the per-replica histograms
            for address in stack["services"][service]:
                fetch_metrics(address, reset=True)
        run = measured_run(ctx, load, out_dir / f"{scenario}@{config.rate:g}")
        result: ReplicaRun = {
            "replicas": count,
            "repetition": repetition,
            "offered_rate": config.rate,
            "achieved_rate": run["achieved_rate"],
            "error_rate": run["error_rate"],
            "latency_ms": run["latency_ms"],
            "visibility_lag_ms": {
                k: v
                for k, v in run.get("visibility_lag_ms", {}).items()
                if k in ("visibility_lag_us", "comment_status_lag_us")
            },
            "per_replica": shares(stack) if impl == "async" else {},
        }
        (out_dir / "replicas.json").write_text(json.dumps(result, indent=2))
        return result


def replica_comparison(config: BenchConfig, run_dir: Path) -> dict[str, list[ReplicaRun]]:
    """Every implementation at every replica count, `config.repeat` times, interleaved
    (1 2 3 1 2 3 ...) so that drift hits every count alike."""
    runs: dict[str, list[ReplicaRun]] = {impl: [] for impl in config.impls}
    assert config.replicas, "no replica counts to compare"
    for repetition in range(1, (config.repeat or 1) + 1):
        for count in config.replicas:
            for impl in config.impls:
                runs[impl].append(replica_run(impl, count, repetition, config, run_dir))
    return runs


def table(runs: dict[str, list[ReplicaRun]]) -> str:
    """Per implementation and replica count: lag p50/p99 (median of repetitions, and min-max of
    the p99s) and achieved rate."""
    lines = [
        f"{'impl':6} {'replicas':>8} {'runs':>4} {'achieved/s':>10} "
        f"{'visibility p50 / p99 [min-max]':>34} {'status p50 / p99 [min-max]':>34}"
    ]
    for impl, impl_runs in runs.items():
        for count in sorted({r["replicas"] for r in impl_runs}):
            mine = [r for r in impl_runs if r["replicas"] == count]
            cells = [
                _lag_cell(mine, name) for name in ("visibility_lag_us", "comment_status_lag_us")
            ]
            rate = median([r["achieved_rate"] for r in mine])
            lines.append(
                f"{impl:6} {count:>8} {len(mine):>4} {rate:>10.1f} {cells[0]:>34} {cells[1]:>34}"
            )
    return "\n".join(lines)


def _lag_cell(runs: list[ReplicaRun], name: str) -> str:
    p50 = [
        r["visibility_lag_ms"][name].get("p50_ms") for r in runs if name in r["visibility_lag_ms"]
    ]
    p99 = [
        r["visibility_lag_ms"][name].get("p99_ms") for r in runs if name in r["visibility_lag_ms"]
    ]
    p50s = [v for v in p50 if v is not None]
    p99s = [v for v in p99 if v is not None]
    if not p99s:
        return "-"
    return f"{median(p50s):.1f} / {median(p99s):.1f} [{min(p99s):.1f}-{max(p99s):.1f}] ms"
