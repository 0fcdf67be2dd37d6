"""`lab bench --impl async --bus-nodes 1,3`: what replicating the event store costs. The same
load against an async stack whose bus is one nats-server (streams and consumers R1) and one
whose bus is a three-node JetStream cluster (R3), on fresh stacks, the counts interleaved and
counterbalanced (1 3, 3 1, ...: drift hits both alike), repeated. Per run: the JetStream
publish-with-ack floor on a stream of the stack's replica count (the calibration's), the
write operations' latency from the scheduled start, the visibility lag the query service
measured, and CPU seconds per 1,000 successful operations, in all and of the nats-servers
(docs/METHOD.md, Cost: R1 vs R3). What losing a node costs is a chaos experiment's figure
(`lab chaos --bus-nodes 3 --fault kill-bus-node:leader`)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypedDict, cast

from benchmarks.floor import calibration
from benchmarks.load.hdr import LatencySummary
from benchmarks.suite.context import BenchConfig, Load, RunContext, say
from benchmarks.suite.driver import users_for
from benchmarks.suite.measured import measured_run
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.seeding import seed
from benchmarks.suite.stats import Spread, spread
from lab.stack.runner import fresh_stack
from lab.stack.stackfile import bus_urls

DEFAULT_SCENARIO = "write_heavy"  # CreatePost and CreateComment: every write crosses the bus
WRITES = ("CreatePost", "CreateComment")
LAGS = ("visibility_lag_us", "comment_status_lag_us")


class BusNodesRun(TypedDict):
    """One run at one bus size."""

    bus_nodes: int
    stream_replicas: int
    repetition: int
    offered_rate: float
    achieved_rate: float
    error_rate: float
    steal_percent: float | None
    publish_ms: LatencySummary  # publish-with-ack, one at a time, to an R<stream_replicas> stream
    operations_ms: dict[str, LatencySummary]  # CreatePost, CreateComment, from the schedule
    visibility_lag_ms: dict[str, LatencySummary]  # the query service's own histograms
    cpu_s_per_1000_ok: dict[str, float]  # "all", "nats-server", and each component


def bus_nodes_run(count: int, repetition: int, config: BenchConfig, run_dir: Path) -> BusNodesRun:
    """A fresh async stack with a bus of `count` nodes: seed, calibrate the publish, measure."""
    profile = PROFILES[config.profile]
    scenario = (config.scenarios or [DEFAULT_SCENARIO])[0]
    out_dir = run_dir / "async" / f"bus-{count}-run{repetition}"
    out_dir.mkdir(parents=True, exist_ok=True)
    options = replace(config.stack, bus_nodes=count)
    replicas = options.stream_replica_count()
    say(config, f"[async] bus of {count} node(s), streams R{replicas}, run {repetition} ...")
    with fresh_stack("async", options) as stack_obj:
        stack = stack_obj.describe()
        seed_file = out_dir / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(stack, profile.seed_posts, random.Random(1))))
        publish = asyncio.run(
            calibration.jetstream(bus_urls(stack), profile.calibration_n, replicas)
        )
        (out_dir / "publish.json").write_text(json.dumps(publish, indent=2))
        ctx = RunContext("async", stack, stack_obj.stack_file, out_dir, seed_file, config)
        duration = config.duration_s or profile.duration_s
        load = Load(
            scenario, config.rate, users_for(config.rate, config.users), duration, profile.warmup_s
        )
        run = measured_run(ctx, load, out_dir / f"{scenario}@{config.rate:g}")
    cpu = {name: usage["cpu_s"] for name, usage in run["cost"]["per_1000_ok"].items()}
    result: BusNodesRun = {
        "bus_nodes": count,
        "stream_replicas": replicas,
        "repetition": repetition,
        "offered_rate": config.rate,
        "achieved_rate": run["achieved_rate"],
        "error_rate": run["error_rate"],
        "steal_percent": run["machine"].get("steal_percent"),
        "publish_ms": calibration_summary(publish),
        "operations_ms": {
            op: o["latency_ms"] for op, o in run["operations"].items() if op in WRITES
        },
        "visibility_lag_ms": {
            k: v for k, v in run.get("visibility_lag_ms", {}).items() if k in LAGS
        },
        "cpu_s_per_1000_ok": {"all": sum(cpu.values()), **cpu},
    }
    (out_dir / "bus-nodes.json").write_text(json.dumps(result, indent=2))
    return result


def calibration_summary(part: calibration.CalibrationPart) -> LatencySummary:
    """A calibration part's timings (its raw histogram stays in publish.json)."""
    return cast(LatencySummary, {k: v for k, v in part.items() if k != "hdr"})


def bus_nodes_comparison(config: BenchConfig, run_dir: Path) -> list[BusNodesRun]:
    """Every bus size `config.repeat` times (default 1), counterbalanced: 1 3, 3 1, ..."""
    assert config.bus_nodes, "no bus sizes to compare"
    runs: list[BusNodesRun] = []
    for repetition in range(1, (config.repeat or 1) + 1):
        order = config.bus_nodes if repetition % 2 else list(reversed(config.bus_nodes))
        for count in order:
            runs.append(bus_nodes_run(count, repetition, config, run_dir))
    return runs


# --- the figures ---------------------------------------------------------------------------
def _value(summary: LatencySummary | None, key: str) -> float | None:
    value = dict(summary or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _operation(op: str, p: str) -> Callable[[BusNodesRun], float | None]:
    return lambda run: _value(run["operations_ms"].get(op), f"{p}_ms")


def _lag(key: str, p: str) -> Callable[[BusNodesRun], float | None]:
    return lambda run: _value(run["visibility_lag_ms"].get(key), f"{p}_ms")


FIGURES: dict[str, Callable[[BusNodesRun], float | None]] = {
    "publish p50 ms": lambda r: _value(r["publish_ms"], "p50_ms"),
    "publish p99 ms": lambda r: _value(r["publish_ms"], "p99_ms"),
    **{f"{op} {p} ms": _operation(op, p) for op in WRITES for p in ("p50", "p99")},
    **{
        f"{name} {p} ms": _lag(key, p)
        for key, name in zip(LAGS, ("visibility lag", "comment status lag"), strict=True)
        for p in ("p50", "p99")
    },
    "CPU s / 1000 ok, all": lambda r: r["cpu_s_per_1000_ok"].get("all"),
    "CPU s / 1000 ok, nats-server": lambda r: r["cpu_s_per_1000_ok"].get("nats-server"),
    "achieved rate /s": lambda r: r["achieved_rate"],
}


def figures(runs: list[BusNodesRun]) -> dict[int, dict[str, Spread]]:
    """Per bus size: every figure's spread over its runs."""
    found: dict[int, dict[str, Spread]] = {}
    for count in sorted({r["bus_nodes"] for r in runs}):
        mine = [r for r in runs if r["bus_nodes"] == count]
        found[count] = {
            name: s for name, read in FIGURES.items() if (s := spread(read(r) for r in mine))
        }
    return found


def table(runs: list[BusNodesRun]) -> str:
    """Figure by figure, each bus size's median [min-max]; "differs" where the ranges of the
    first and the last size do not overlap (docs/METHOD.md, Noise), "~" where they do."""
    by_count = figures(runs)
    counts = sorted(by_count)
    replicas = {r["bus_nodes"]: r["stream_replicas"] for r in runs}
    heads = [f"{c} node{'s' if c > 1 else ''} (R{replicas[c]})" for c in counts]
    lines = [f"{'figure':32} " + " ".join(f"{h:>26}" for h in heads) + "  ranges"]
    for name in FIGURES:
        cells = [by_count[c].get(name) for c in counts]
        text = [f"{_cell(s):>26}" for s in cells]
        first, last = cells[0], cells[-1]
        mark = ""
        if first and last and len(counts) > 1 and min(first["n"], last["n"]) >= 2:
            disjoint = first["max"] < last["min"] or last["max"] < first["min"]
            mark = "differs" if disjoint else "~"
        lines.append(f"{name:32} " + " ".join(text) + f"  {mark}")
    runs_per = ", ".join(f"{c}: {by_count[c]['achieved rate /s']['n']}" for c in counts)
    lines.append(f"runs per bus size: {runs_per}; median [min-max] over runs")
    return "\n".join(lines)


def _cell(s: Spread | None) -> str:
    if s is None:
        return "-"
    if s["n"] == 1:
        return f"{s['median']:.3g}"
    return f"{s['median']:.3g} [{s['min']:.3g}-{s['max']:.3g}]"
