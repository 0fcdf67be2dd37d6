"""One Locust run: start the generator (benchmarks/locustfile.py) on a load, wait for it, and
summarize what its processes measured (docs/METHOD.md, Load and Latency). The raw files stay in
the run's directory: Locust's CSVs and log, generator-<pid>.json, hdr-<operation>-*.txt."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.load.hdr import count_at_or_below, merge, summary
from benchmarks.load.priority import Priority, granted, stop_session
from benchmarks.load.scenarios import TIMEOUT_S
from benchmarks.suite import cost
from benchmarks.suite.context import ROOT, Load, RunContext
from benchmarks.suite.profiles import (
    GENERATOR_LAG_P99_MS,
    GENERATOR_SPLIT_RATE,
    SATURATED_CPU_PERCENT,
    SLO_P99_MS,
)
from benchmarks.suite.results import LatencySummary, LoadSummary, OperationSummary, RunSummary

LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"


def users_for(rate: float, users: int) -> int:
    """Closed loop: Locust users (default 10). Open loop: 0, each generator process runs one
    user, a dispatcher of its share of the arrivals (benchmarks/load/dispatcher.py)."""
    return (users or 10) if rate <= 0 else 0


def generator_processes(ctx: RunContext, load: Load) -> int:
    return ctx.config.generators or (2 if load.rate >= GENERATOR_SPLIT_RATE else 1)


def locust_args(ctx: RunContext, load: Load, out: Path) -> list[str]:
    processes = generator_processes(ctx, load)
    users = load.users if load.rate <= 0 else processes
    # Open loop ends by itself once every dispatcher has finished its schedule and drained its
    # requests in flight; Locust's own time limit is a safety net past that.
    limit = load.warmup_s + load.duration_s + (TIMEOUT_S + 15 if load.rate > 0 else 0)
    args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    args += ["-u", str(users), "-r", str(users)]
    args += ["-t", f"{math.ceil(limit)}s", "--stop-timeout", "5"]
    args += ["--csv", str(out / "locust"), "--csv-full-history"]
    args += ["--lab-stack", str(ctx.stack_file), "--lab-scenario", load.scenario]
    args += ["--lab-rate", str(load.rate), "--lab-seed-file", str(ctx.seed_file)]
    args += ["--lab-seed", str(ctx.config.seed), "--lab-warmup-s", str(load.warmup_s)]
    args += ["--lab-duration-s", str(load.duration_s), "--lab-out", str(out)]
    if load.bare_routes is not None:
        args += ["--lab-bare", str(load.bare_routes)]
    if ctx.trace_sample > 0 and ctx.trace_dir is not None:
        args += ["--lab-trace-sample", str(ctx.trace_sample), "--lab-trace-dir", str(ctx.trace_dir)]
    if processes > 1:
        args += ["--processes", str(processes)]  # master + workers, on this machine
    return args


def run_locust(ctx: RunContext, load: Load, out: Path) -> RunSummary:
    """One Locust run; returns its summary (and leaves the raw files in `out`)."""
    out.mkdir(parents=True, exist_ok=True)
    total = load.warmup_s + load.duration_s
    args = locust_args(ctx, load, out)
    started = time.monotonic()
    ticks = cost.cpu_ticks()
    priority = Priority() if ctx.config.generator_priority else None
    with open(out / "locust.log", "w") as log:
        # Prioritized: a session of its own (Locust's workers inherit it and its priority).
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=priority is not None,
            preexec_fn=priority.preexec() if priority else None,
        )
        got = granted(proc.pid)
        try:
            shown = 0.0
            while proc.poll() is None:
                time.sleep(0.5)
                elapsed = time.monotonic() - started
                if ctx.config.progress and elapsed - shown >= 5:
                    shown = elapsed
                    print(f"      ... {min(elapsed, total):.0f}/{total:.0f} s", flush=True)
                if elapsed > total + TIMEOUT_S + 120:
                    raise RuntimeError(f"locust did not finish; see {out / 'locust.log'}")
        finally:
            # Interrupted or timed out: the generator and its workers end with the run (in a
            # session of their own, a terminal's Ctrl-C does not reach them).
            if proc.poll() is None and priority:
                stop_session(proc)
            elif proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode not in (0, 1):  # 1: some requests failed, which we report ourselves
        raise RuntimeError(f"locust exited with {proc.returncode}; see {out / 'locust.log'}")
    result = summarize(out, load)
    # The whole machine during the run (warm-up included): busy share and hypervisor steal.
    machine = cost.machine_shares(cost.cpu_ticks(), ticks)
    return {**result, "machine": machine, "generator_priority": got}


def summarize(out: Path, load: Load, write: bool = True) -> LoadSummary:
    """Merge the generator processes' files; write each operation's merged histograms (unless
    `write` is False: a run read again, benchmarks/suite/rejudge.py)."""
    files = [json.loads(p.read_text()) for p in sorted(out.glob("generator-*.json"))]
    if not files:
        raise RuntimeError(f"the generator wrote no measurements; see {out / 'locust.log'}")
    ops: dict[str, OperationSummary] = {}
    names = sorted({op for f in files for op in f["ops"]})
    all_ok = 0
    all_errors = 0
    for op in names:
        parts = [f["ops"][op] for f in files if op in f["ops"]]
        ok = sum(p["ok"] for p in parts)
        partial = sum(p.get("partial", 0) for p in parts)  # files before PARTIAL lack it
        errors: dict[str, int] = {}
        for p in parts:
            for code, n in p["errors"].items():
                errors[code] = errors.get(code, 0) + n
        corrected = merge(p["corrected"] for p in parts if p["corrected"])
        service = merge(p["service"] for p in parts if p["service"])
        if write:
            (out / f"hdr-{op}-corrected.txt").write_text(corrected.encode().decode())
            (out / f"hdr-{op}-service.txt").write_text(service.encode().decode())
        n_err = sum(errors.values())
        all_ok += ok
        all_errors += n_err
        ops[op] = {
            "ok": ok,
            "partial": partial,
            "errors": errors,
            "error_rate": n_err / (ok + n_err) if ok + n_err else 0.0,
            "latency_ms": summary(corrected),  # from the scheduled start (open loop)
            "service_time_ms": summary(service),  # from the actual send
        }
    every = merge(p["corrected"] for f in files for p in f["ops"].values() if p["corrected"])
    extra_names = sorted({n for f in files for n in f["extra"]})
    extra: dict[str, LatencySummary] = {
        n: summary(merge(f["extra"][n] for f in files if n in f["extra"])) for n in extra_names
    }
    counts: dict[str, int] = {}
    for f in files:
        for name, n in f["counters"].items():
            counts[name] = counts.get(name, 0) + n
    rate, duration_s = load.rate, load.duration_s
    # The measured window: first to last scheduled start over every generator process.
    windows = [f["window_s"] for f in files if f["window_s"]]
    if windows and rate > 0:
        span = max(w[1] for w in windows) - min(w[0] for w in windows)
        duration_s = span + 1.0 / rate  # n starts at 1/rate apart span (n - 1) intervals
    # Saturation is per process: one busy generator process is enough to distort the run.
    per_process = [sum(f["cpu_percent"]) / len(f["cpu_percent"]) for f in files if f["cpu_percent"]]
    cpu = [s for f in files for s in f["cpu_percent"]]
    cpu_mean = max(per_process, default=0.0)
    total = all_ok + all_errors
    lag = merge(f["send_lag"] for f in files if f.get("send_lag"))
    within_slo = sum(
        count_at_or_below(merge([p["corrected"]]), SLO_P99_MS * 1000)
        for f in files
        for p in f["ops"].values()
        if p["corrected"]
    )
    halves = [merge(f["halves"][i] for f in files if f["halves"][i]) for i in (0, 1)]
    overflow = counts.get("generator_overflow", 0)
    lag_p99 = summary(lag).get("p99_ms") if lag.total_count else None
    return {
        "scenario": load.scenario,
        "mode": "open" if rate > 0 else "closed",
        "offered_rate": rate if rate > 0 else None,
        "achieved_rate": total / duration_s if duration_s else 0.0,
        "successful_rate": all_ok / duration_s if duration_s else 0.0,
        "goodput_rate": within_slo / duration_s if duration_s else 0.0,
        "duration_s": duration_s,
        "users": load.users if rate <= 0 else len(files),  # open loop: a dispatcher each
        "generator_processes": len(files),
        "requests": total,
        # Open loop: every arrival scheduled in the window; more than `requests` when some never
        # finished (the run ended while they were in flight).
        "arrivals": sum(f.get("arrivals", 0) for f in files) if rate > 0 else total,
        "errors": all_errors,
        "error_rate": all_errors / total if total else 0.0,
        "latency_ms": summary(every),
        "halves_p99_ms": [
            h.get_value_at_percentile(99) / 1000 if h.total_count else None for h in halves
        ],
        "halves_p50_ms": [
            h.get_value_at_percentile(50) / 1000 if h.total_count else None for h in halves
        ],
        "operations": ops,
        "probe_ms": extra,
        "probe_counters": counts,
        "generator_cpu_percent": {"mean": cpu_mean, "max": max(cpu, default=0.0)},  # busiest
        "generator_saturated": cpu_mean >= SATURATED_CPU_PERCENT,
        "generator_lag_ms": summary(lag),
        "generator_overflow": overflow,
        "generator_in_flight_max": max(
            (n for f in files for n in f.get("in_flight", [])), default=0
        ),
        # Behind its schedule: its p99 send lag beyond the bound, or an arrival it could not send.
        "generator_behind": bool(overflow) or (lag_p99 or 0.0) > GENERATOR_LAG_P99_MS,
    }
