"""`lab bench --trace-sample 0,1`: what tracing costs, measured (docs/METHOD.md, Where each
millisecond goes). The same load (--scenario, default write_heavy, at --rate) on fresh stacks
of each implementation at each sampling share, the generator tracing at the same share as the
services, interleaved and repeated (one order, then the reverse: drift reaches every side); per
implementation and share the latency and the services' CPU per 1,000 requests, each as median
[min-max] over the runs, and each share against the first (usually 0: tracing off), called a
difference only when the ranges do not overlap.

The traced runs' spans stay in <impl>/trace-<share>-run<n>/traces: `lab trace RUN_ID` gives
the per-hop breakdown at that load from the same run.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Literal, TypedDict

from benchmarks.suite.context import BenchConfig, Load, RunContext, say
from benchmarks.suite.driver import users_for
from benchmarks.suite.measured import measured_run
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.results import LatencySummary, MachineMeta
from benchmarks.suite.seeding import seed
from benchmarks.suite.stats import Spread, spread
from lab.stack.runner import fresh_stack
from lab.stack.topology import SERVICES

DEFAULT_SCENARIO = "write_heavy"
CPU = "services_cpu_s_per_1000"
WARMUP_S = 3.0


class TraceRun(TypedDict):
    """One run at one sampling share."""

    impl: str
    sample: float
    repetition: int
    offered_rate: float
    achieved_rate: float
    error_rate: float
    latency_ms: dict[str, LatencySummary]  # per operation, from the scheduled start
    services_cpu_s_per_1000: float  # the four services' processes (not databases, not the bus)
    generator_cpu_percent: float


Verdict = Literal["higher", "lower", "~", "n/a"]


class ShareFigures(TypedDict):
    """One implementation at one share, over its runs; `vs_first`: each figure against the
    first share's (ratio of medians, and the verdict of the ranges)."""

    sample: float
    runs: int
    p50_ms: dict[str, Spread]
    p99_ms: dict[str, Spread]
    services_cpu_s_per_1000: Spread | None
    vs_first: dict[str, dict[str, float | str | None]]


def trace_run(
    impl: str, sample: float, repetition: int, config: BenchConfig, run_dir: Path
) -> TraceRun:
    profile = PROFILES[config.profile]
    scenario = (config.scenarios or [DEFAULT_SCENARIO])[0]
    out_dir = run_dir / impl / f"trace-{sample:g}-run{repetition}"
    out_dir.mkdir(parents=True, exist_ok=True)
    trace_dir = out_dir / "traces" if sample > 0 else None
    say(config, f"[{impl}] tracing {sample:g} of requests, run {repetition} ...")
    options = replace(config.stack, trace_sample=sample or None, trace_dir=trace_dir)
    with fresh_stack(impl, options) as stack_obj:
        stack = stack_obj.describe()
        seed_file = out_dir / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(stack, profile.seed_posts, random.Random(1))))
        ctx = RunContext(
            impl, stack, stack_obj.stack_file, out_dir, seed_file, config, sample, trace_dir
        )
        duration = config.duration_s or profile.duration_s
        users = users_for(config.rate, config.users)
        load = Load(scenario, config.rate, users, duration, WARMUP_S)
        run = measured_run(ctx, load, out_dir / f"{scenario}@{config.rate:g}")
    per_1000 = run["cost"]["per_1000_ok"]
    result: TraceRun = {
        "impl": impl,
        "sample": sample,
        "repetition": repetition,
        "offered_rate": config.rate,
        "achieved_rate": run["achieved_rate"],
        "error_rate": run["error_rate"],
        "latency_ms": {op: o["latency_ms"] for op, o in run["operations"].items()},
        "services_cpu_s_per_1000": sum(
            usage["cpu_s"] for name, usage in per_1000.items() if name in SERVICES
        ),
        "generator_cpu_percent": run["generator_cpu_percent"]["mean"],
    }
    (out_dir / "trace-run.json").write_text(json.dumps(result, indent=2))
    return result


def compare(config: BenchConfig, run_dir: Path) -> list[TraceRun]:
    """Every implementation at every share, `config.repeat` times (default 2), interleaved:
    odd repetitions in the order given, even ones reversed (A B, B A)."""
    order = [(impl, s) for s in config.trace_sample for impl in config.impls]
    runs = []
    for repetition in range(1, (config.repeat or 2) + 1):
        this = order if repetition % 2 else list(reversed(order))
        for impl, sample in this:
            runs.append(trace_run(impl, sample, repetition, config, run_dir))
    return runs


def _pct(run: TraceRun, op: str, key: str) -> float | None:
    found = run["latency_ms"].get(op)
    value = found.get(key) if found else None
    return float(value) if isinstance(value, int | float) else None


def _verdict(first: Spread, other: Spread) -> Verdict:
    if first["n"] < 2 or other["n"] < 2:
        return "n/a"
    if other["min"] > first["max"]:
        return "higher"
    if other["max"] < first["min"]:
        return "lower"
    return "~"


def figures(runs: list[TraceRun], impl: str, samples: list[float]) -> list[ShareFigures]:
    """Per share of `impl`: every figure's spread, and how it compares with the first share."""
    out: list[ShareFigures] = []
    for sample in samples:
        mine = [r for r in runs if r["impl"] == impl and r["sample"] == sample]
        ops = sorted({op for r in mine for op in r["latency_ms"]})
        p50 = {op: spread(_pct(r, op, "p50_ms") for r in mine) for op in ops}
        p99 = {op: spread(_pct(r, op, "p99_ms") for r in mine) for op in ops}
        out.append(
            {
                "sample": sample,
                "runs": len(mine),
                "p50_ms": {op: s for op, s in p50.items() if s},
                "p99_ms": {op: s for op, s in p99.items() if s},
                "services_cpu_s_per_1000": spread(r["services_cpu_s_per_1000"] for r in mine),
                "vs_first": {},
            }
        )
    first = out[0]
    for share in out[1:]:
        pairs: list[tuple[str, Spread | None, Spread | None]] = [
            (CPU, first["services_cpu_s_per_1000"], share["services_cpu_s_per_1000"])
        ]
        pairs += [(f"{op} p50_ms", first["p50_ms"].get(op), s) for op, s in share["p50_ms"].items()]
        pairs += [(f"{op} p99_ms", first["p99_ms"].get(op), s) for op, s in share["p99_ms"].items()]
        for name, before, after in pairs:
            if before and after and before["median"]:
                share["vs_first"][name] = {
                    "ratio": round(after["median"] / before["median"], 3),
                    "verdict": _verdict(before, after),
                }
    return out


def document(config: BenchConfig, machine: MachineMeta, runs: list[TraceRun]) -> dict[str, object]:
    """summary.json of a tracing-overhead run."""
    return {
        "run_id": config.run_id,
        "kind": "trace",
        "machine": machine,
        "scenario": (config.scenarios or [DEFAULT_SCENARIO])[0],
        "rate": config.rate,
        "samples": config.trace_sample,
        "runs": runs,
        "figures": {impl: figures(runs, impl, config.trace_sample) for impl in config.impls},
    }


def table(document: dict[str, object]) -> str:
    """Per implementation and share: each operation's p50 / p99 (median [min-max]) and the
    services' CPU per 1,000 requests, with the ratio to the first share and its verdict."""
    lines = []
    all_figures: dict[str, list[ShareFigures]] = document["figures"]  # type: ignore[assignment]
    for impl, shares in all_figures.items():
        for share in shares:
            cpu = share["services_cpu_s_per_1000"]
            cpu_text = _cell(cpu) if cpu else "-"
            lines.append(
                f"{impl} tracing {share['sample']:g} ({share['runs']} runs): "
                f"services' CPU s per 1000 requests {cpu_text}{_vs(share, CPU)}"
            )
            for op in sorted(share["p99_ms"]):
                p50, p99 = share["p50_ms"].get(op), share["p99_ms"][op]
                lines.append(
                    f"  {op:<14} p50 {_cell(p50) if p50 else '-'}{_vs(share, f'{op} p50_ms')}"
                    f"   p99 {_cell(p99)}{_vs(share, f'{op} p99_ms')}"
                )
    return "\n".join(lines)


def _cell(s: Spread) -> str:
    return f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]"


def _vs(share: ShareFigures, name: str) -> str:
    found = share["vs_first"].get(name)
    if not found:
        return ""
    return f" (x{found['ratio']}, {found['verdict']})"
