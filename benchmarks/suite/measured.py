"""A measured scenario run: the Locust run, with the cost sampled around it (docs/METHOD.md,
Cost), the services' own counters and, for async, the visibility lag the query service
measured over the run's measured window (its histograms are reset when the generator's
warm-up ends; docs/METHOD.md, Consistency). Writes <impl>/<label>/summary.json."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.load.hdr import merge, summary
from benchmarks.suite import cost
from benchmarks.suite.context import Load, RunContext
from benchmarks.suite.driver import run_locust
from benchmarks.suite.results import CostSummary, LatencySummary, MeasuredRun
from benchmarks.suite.seeding import wait_quiet
from blog.rpc.metrics import fetch as fetch_metrics
from blog.rpc.server_metrics import RPC_LATENCY
from blog.v1 import internal_pb2
from lab.stack.stackfile import StackInfo


def metrics(
    stack: StackInfo, service: str, reset: bool = False
) -> list[internal_pb2.MetricsSnapshot]:
    return [fetch_metrics(address, reset=reset) for address in stack["services"][service]]


def counters(stack: StackInfo) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for service in stack["services"]:
        for snap in metrics(stack, service):
            bucket = totals.setdefault(service, {})
            for name, value in snap.counters.items():
                bucket[name] = bucket.get(name, 0) + value
    return totals


class AtWarmupEnd:
    """Runs `action` once, when the generator says its warm-up ended (benchmarks/locustfile.py
    writes --lab-out/measuring-<pid>): the services' own histograms then cover the measured
    window, as the generator's do, not the warm-up."""

    def __init__(self, out: Path, action: Callable[[], object], timeout_s: float) -> None:
        self.out, self.action, self.timeout_s = out, action, timeout_s
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="warmup-end", daemon=True)

    def __enter__(self) -> AtWarmupEnd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self.done.is_set() and time.monotonic() < deadline:
            if any(self.out.glob("measuring-*")):
                self.action()
                return
            time.sleep(0.02)


def measured_run(ctx: RunContext, load: Load, out: Path) -> MeasuredRun:
    """A Locust run with cost sampling around it and the services' own measurements."""
    stack = ctx.stack
    if "bus" in stack:
        wait_quiet(stack, timeout_s=120)
    reset_lag = (lambda: metrics(stack, "query", reset=True)) if "bus" in stack else (lambda: None)
    reset_lag()
    counters_before = counters(stack)
    xacts_before = cost.db_transactions(stack)
    bus_before = cost.bus_counters(stack)
    sampler = cost.ProcessSampler(stack)
    sampler.start()
    with AtWarmupEnd(out, reset_lag, timeout_s=load.warmup_s + 60):
        run = run_locust(ctx, load, out)
    usage = sampler.stop()
    time.sleep(1.2)  # PostgreSQL publishes its statistics at most once a second
    xacts = cost.delta(cost.db_transactions(stack), xacts_before)
    bus = cost.delta(cost.bus_counters(stack), bus_before)
    counters_after = counters(stack)
    ok = sum(o["ok"] for o in run["operations"].values()) or 1
    # Cost counts the warm-up too (the sampler cannot tell requests apart): per 1,000 of all
    # successful requests, warm-up included, estimated from the measured window's rate.
    all_ok = ok * (load.duration_s + load.warmup_s) / load.duration_s
    run_cost: CostSummary = {
        "per_1000_ok": {
            name: {"cpu_s": u["cpu_s"] * 1000 / all_ok, "peak_mb": u["peak_mb"]}
            for name, u in usage.items()
        },
        "db_transactions_per_op": {name: n / all_ok for name, n in xacts.items()},
        "bus_per_op": {name: n / all_ok for name, n in bus.items()},
    }
    result: MeasuredRun = {
        **run,
        "cost": run_cost,
        "service_counters": {
            service: {
                name: value - counters_before.get(service, {}).get(name, 0)
                for name, value in values.items()
            }
            for service, values in counters_after.items()
        },
    }
    if "bus" in stack:
        result["visibility_lag_ms"] = visibility_lag(stack, out)
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result


def visibility_lag(stack: StackInfo, out: Path) -> dict[str, LatencySummary]:
    """The query service's histograms of events (merged over its replicas), written raw beside;
    not its RPCs' own timings (the exposition's, blog/rpc/server_metrics.py)."""
    lag: dict[str, list[bytes]] = {}
    for snap in metrics(stack, "query"):
        for name, encoded in snap.histograms.items():
            if not name.startswith(f"{RPC_LATENCY}."):
                lag.setdefault(name, []).append(encoded)
    summaries = {name: summary(merge(e)) for name, e in lag.items()}
    for name, encoded in lag.items():
        (out / f"hdr-server-{name}.txt").write_text(merge(encoded).encode().decode())
    return summaries
