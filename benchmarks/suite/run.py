"""`lab bench`: run the benchmark suite and write results/<run-id>/ (LAB.md sections 2, 5-7).

For each implementation: start its stack (unless --attach), seed data, calibrate the floor,
run each scenario under Locust (open loop by default), sweep the offered rate to find the
capacity at the SLO, sample cost, read the async visibility lag, stop the stack. Everything
measured is written raw (HDR histograms, Locust CSVs, generator files) beside a summary.json
and a meta.json describing the machine and the code.
"""

from __future__ import annotations

import asyncio
import json
import math
import platform
import random
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc

from benchmarks.floor import calibration
from benchmarks.suite import cost
from benchmarks.floor.bare_chain import BareChain
from benchmarks.load.hdr import merge, summary
from blog.v1 import api_pb2, internal_pb2
from lab.rpc.metrics import fetch as fetch_metrics
from stack.client import BlogClient
from stack.runner import Stack, StackConfig
from stack.stackfile import load_stack_file

ROOT = Path(__file__).resolve().parents[2]
SLO_P99_MS = 50.0
SLO_ERROR_RATE = 0.001
SATURATED_CPU_PERCENT = 90.0  # of one core, mean over the run: the generator is the bottleneck
RYW_MAX_RATE = 10.0  # read_your_writes is a probe: several calls and polls per operation
# Locust's distributed mode (master + worker processes) from this offered rate up. Measured on
# this 2-core machine: one Locust process spent ~10 % of a core at 50 requests/s, two spent ~19 %
# each at 350/s in total. Splitting keeps every process far from saturation, which each run
# checks anyway (generator_saturated).
GENERATOR_SPLIT_RATE = 300.0


@dataclass(frozen=True)
class Profile:
    scenarios: tuple[str, ...]
    duration_s: float
    warmup_s: float
    sweep_rates: tuple[float, ...]
    sweep_scenarios: tuple[str, ...]
    sweep_duration_s: float
    calibration_n: int
    seed_posts: int
    refine_steps: int = 0  # bisections between the highest rate met and the lowest missed


PROFILES: dict[str, Profile] = {
    # CI: proves the pipeline end to end in seconds; its numbers mean nothing.
    "smoke": Profile(("mixed",), 3, 1, (20,), ("mixed",), 2, 200, 20, 0),
    # `make bench`: both implementations in a few minutes on 2 cores.
    "quick": Profile(
        ("mixed", "read_your_writes"), 15, 3, (50, 100, 200, 400), ("mixed",), 8, 1000, 200, 2
    ),
    # The published report.
    "full": Profile(
        ("read_heavy", "write_heavy", "mixed", "read_your_writes"),
        60,
        10,
        (25, 50, 100, 150, 200, 300, 400, 600, 800),
        ("read_heavy", "write_heavy", "mixed"),
        30,
        5000,
        1000,
        3,
    ),
}


@dataclass
class BenchConfig:
    impls: list[str]
    profile: str = "quick"
    scenarios: list[str] | None = None  # default: the profile's
    rate: float = 50.0  # open loop, requests/s; 0 = closed loop
    users: int = 0  # 0: derived from the rate (open) or 10 (closed)
    generators: int = 0  # Locust processes; 0: one, two from GENERATOR_SPLIT_RATE up
    duration_s: float | None = None
    attach: Path | None = None
    results_dir: Path = ROOT / "results"
    seed: int = 1
    sweep: bool = True
    progress: bool = True
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def say(config: BenchConfig, message: str) -> None:
    if config.progress:
        print(message, flush=True)


# --- meta --------------------------------------------------------------------------------------
def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_meta() -> dict[str, Any]:
    from stack.nats_server import find_nats_server, nats_server_version
    from stack.postgres import find_bin_dir, server_version

    packages: dict[str, str | None] = {}
    for name in ("grpcio", "protobuf", "asyncpg", "nats-py", "locust", "hdrhistogram", "psutil"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "cpu_model": _cpu_model(),
        "cpu_count": __import__("os").cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": packages,
        "postgres": server_version(find_bin_dir()),
        "nats_server": nats_server_version(find_nats_server()),
    }


# --- stack helpers ---------------------------------------------------------------------------
def seed(stack: dict, posts: int, rng: random.Random) -> list[str]:
    """Create posts with a few comments each; wait until the query service shows them all."""
    client = BlogClient.from_stack(stack)
    try:
        ids, deadline = _seed(client, posts, rng)
    finally:
        client.close()
    if "bus" in stack:
        wait_quiet(stack, timeout_s=max(0.0, deadline - time.monotonic()) + 30)
    return ids


def _seed(client: BlogClient, posts: int, rng: random.Random) -> tuple[list[str], float]:
    posts_stub, comments_stub, query_stub = client.posts, client.comments, client.query
    ids = []
    for i in range(posts):
        post = posts_stub.CreatePost(
            api_pb2.CreatePostRequest(title=f"seed {i}", body="seed " * 40), timeout=10
        )
        ids.append(post.id)
    deadline = time.monotonic() + 60
    for post_id in ids:
        for _ in range(rng.randrange(4)):
            request = api_pb2.CreateCommentRequest(
                post_id=post_id, content="seed comment", request_id=str(uuid.uuid4())
            )
            while True:  # async: the comments service may not know the post yet
                try:
                    comments_stub.CreateComment(request, timeout=10)
                    break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
    for post_id in ids:  # async: visible in the read model before the run starts
        while True:
            try:
                query_stub.GetPostView(api_pb2.GetPostViewRequest(post_id=post_id), timeout=10)
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    return ids, deadline


def wait_quiet(stack: dict, timeout_s: float) -> None:
    """Async: wait until every consumer has applied every event (the seed's moderation,
    updates and copies), so calibration and the runs do not compete with a backlog."""
    import nats

    from async_impl.admin import wait_caught_up

    async def all_caught_up() -> bool:
        nc = await nats.connect(stack["bus"]["url"])
        try:
            js = nc.jetstream()
            for _ in range(3):  # a consumer's work produces events for the next one
                for consumer in ("moderation", "comments", "query"):
                    if not await wait_caught_up(js, consumer, timeout_s):
                        return False
                await asyncio.sleep(0.5)
            return True
        finally:
            await nc.close()

    if not asyncio.run(all_caught_up()):
        raise RuntimeError(f"the async stack did not process the seed within {timeout_s:.0f}s")


def metrics(stack: dict, service: str, reset: bool = False) -> list[internal_pb2.MetricsSnapshot]:
    return [fetch_metrics(address, reset=reset) for address in stack["services"][service]]


def counters(stack: dict) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for service in stack["services"]:
        for snap in metrics(stack, service):
            bucket = totals.setdefault(service, {})
            for name, value in snap.counters.items():
                bucket[name] = bucket.get(name, 0) + value
    return totals


# --- one Locust run --------------------------------------------------------------------------
def users_for(rate: float, users: int) -> int:
    if users:
        return users
    if rate <= 0:
        return 10
    # Open loop: each user keeps one request in flight; ~10/s each leaves 100 ms per request
    # before a user falls behind its schedule (and lateness is then measured, not hidden).
    return max(5, min(200, math.ceil(rate / 10)))


def run_locust(
    stack_file: Path,
    out: Path,
    scenario: str,
    rate: float,
    users: int,
    duration_s: float,
    warmup_s: float,
    seed_file: Path,
    seed_value: int,
    config: BenchConfig,
    bare_routes: Path | None = None,
) -> dict[str, Any]:
    """One Locust run; returns its summary (and leaves the raw files in `out`)."""
    out.mkdir(parents=True, exist_ok=True)
    total = warmup_s + duration_s
    args = [
        sys.executable, "-m", "locust",
        "-f", str(ROOT / "benchmarks" / "locustfile.py"),
        "--headless", "--only-summary",
        "-u", str(users), "-r", str(users),
        "-t", f"{math.ceil(total)}s", "--stop-timeout", "5",
        "--csv", str(out / "locust"), "--csv-full-history",
        "--lab-stack", str(stack_file), "--lab-scenario", scenario,
        "--lab-rate", str(rate), "--lab-seed-file", str(seed_file),
        "--lab-seed", str(seed_value), "--lab-warmup-s", str(warmup_s),
        "--lab-out", str(out),
    ]  # fmt: skip
    if bare_routes is not None:
        args += ["--lab-bare", str(bare_routes)]
    processes = config.generators or (2 if rate >= GENERATOR_SPLIT_RATE else 1)
    if processes > 1:
        args += ["--processes", str(processes)]  # master + workers, on this machine
    started = time.monotonic()
    ticks = cost.cpu_ticks()
    with open(out / "locust.log", "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        shown = 0.0
        while proc.poll() is None:
            time.sleep(0.5)
            elapsed = time.monotonic() - started
            if config.progress and elapsed - shown >= 5:
                shown = elapsed
                print(f"      ... {min(elapsed, total):.0f}/{total:.0f} s", flush=True)
            if elapsed > total + 120:
                proc.kill()
                raise RuntimeError(f"locust did not finish; see {out / 'locust.log'}")
    if proc.returncode not in (0, 1):  # 1: some requests failed, which we report ourselves
        raise RuntimeError(f"locust exited with {proc.returncode}; see {out / 'locust.log'}")
    result = summarize(out, scenario, rate, users, duration_s)
    # The whole machine during the run (warm-up included): busy share and hypervisor steal.
    result["machine"] = cost.machine_shares(cost.cpu_ticks(), ticks)
    return result


def summarize(out: Path, scenario: str, rate: float, users: int, duration_s: float) -> dict:
    files = [json.loads(p.read_text()) for p in sorted(out.glob("generator-*.json"))]
    if not files:
        raise RuntimeError(f"the generator wrote no measurements; see {out / 'locust.log'}")
    ops: dict[str, Any] = {}
    names = sorted({op for f in files for op in f["ops"]})
    all_ok = 0
    all_errors = 0
    for op in names:
        parts = [f["ops"][op] for f in files if op in f["ops"]]
        ok = sum(p["ok"] for p in parts)
        errors: dict[str, int] = {}
        for p in parts:
            for code, n in p["errors"].items():
                errors[code] = errors.get(code, 0) + n
        corrected = merge(p["corrected"] for p in parts if p["corrected"])
        service = merge(p["service"] for p in parts if p["service"])
        (out / f"hdr-{op}-corrected.txt").write_text(corrected.encode().decode())
        (out / f"hdr-{op}-service.txt").write_text(service.encode().decode())
        n_err = sum(errors.values())
        all_ok += ok
        all_errors += n_err
        ops[op] = {
            "ok": ok,
            "errors": errors,
            "error_rate": n_err / (ok + n_err) if ok + n_err else 0.0,
            "latency_ms": summary(corrected),  # from the scheduled start (open loop)
            "service_time_ms": summary(service),  # from the actual send
        }
    every = merge(p["corrected"] for f in files for p in f["ops"].values() if p["corrected"])
    extra_names = sorted({n for f in files for n in f["extra"]})
    extra = {
        n: summary(merge(f["extra"][n] for f in files if n in f["extra"])) for n in extra_names
    }
    counts: dict[str, int] = {}
    for f in files:
        for name, n in f["counters"].items():
            counts[name] = counts.get(name, 0) + n
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
    return {
        "scenario": scenario,
        "mode": "open" if rate > 0 else "closed",
        "offered_rate": rate if rate > 0 else None,
        "achieved_rate": total / duration_s if duration_s else 0.0,
        "successful_rate": all_ok / duration_s if duration_s else 0.0,
        "duration_s": duration_s,
        "users": users,
        "generator_processes": len(files),
        "requests": total,
        "errors": all_errors,
        "error_rate": all_errors / total if total else 0.0,
        "latency_ms": summary(every),
        "operations": ops,
        "probe_ms": extra,
        "probe_counters": counts,
        "generator_cpu_percent": {"mean": cpu_mean, "max": max(cpu, default=0.0)},  # busiest
        "generator_saturated": cpu_mean >= SATURATED_CPU_PERCENT,
    }


def meets_slo(run: dict) -> bool:
    p99 = run["latency_ms"].get("p99_ms")
    return (
        p99 is not None
        and p99 <= SLO_P99_MS
        and run["error_rate"] <= SLO_ERROR_RATE
        and not run["generator_saturated"]
    )


# --- one implementation ----------------------------------------------------------------------
def bench_impl(impl: str, config: BenchConfig, run_dir: Path) -> dict[str, Any]:
    profile = PROFILES[config.profile]
    impl_dir = run_dir / impl
    impl_dir.mkdir(parents=True, exist_ok=True)
    stack_obj: Stack | None = None
    if config.attach:
        stack_file = config.attach
        stack = load_stack_file(stack_file)
        if stack["impl"] != impl:
            raise SystemExit(f"--attach {stack_file} is a {stack['impl']} stack, not {impl}")
    else:
        say(config, f"[{impl}] starting the stack ...")
        stack_obj = Stack(StackConfig(impl=impl, data_dir=run_dir / f"stack-{impl}", fresh=True))
        stack_obj.start()
        stack_file = stack_obj.stack_file
        stack = load_stack_file(stack_file)
    try:
        rng = random.Random(config.seed)
        say(config, f"[{impl}] seeding {profile.seed_posts} posts ...")
        seed_file = impl_dir / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(stack, profile.seed_posts, rng)))

        say(config, f"[{impl}] calibrating the floor ({profile.calibration_n} calls per part) ...")
        parts = calibration.calibrate(stack, impl_dir, impl_dir, profile.calibration_n)
        (impl_dir / "calibration.json").write_text(json.dumps(parts, indent=2))
        floors = calibration.floors(impl, parts)

        runs: dict[str, Any] = {}
        duration = config.duration_s or profile.duration_s
        for scenario in config.scenarios or profile.scenarios:
            rate = config.rate
            if scenario == "read_your_writes" and rate > RYW_MAX_RATE:
                rate = RYW_MAX_RATE
            users = users_for(rate, config.users)
            label = f"{scenario}@{rate:g}" if rate > 0 else f"{scenario}@closed-{users}"
            say(config, f"[{impl}] {label}: {users} users, {profile.warmup_s:g}+{duration:g} s")
            runs[label] = measured_run(
                impl, stack, stack_file, impl_dir / label, scenario, rate, users,
                duration, profile.warmup_s, seed_file, config,
            )  # fmt: skip
            runs[label]["vs_floor"] = {
                op: round(o["latency_ms"]["p50_ms"] / floors[op], 3)
                for op, o in runs[label]["operations"].items()
                if op in floors and o["latency_ms"].get("count")
            }

        capacity: dict[str, Any] = {}
        if config.sweep and config.rate > 0 and profile.sweep_scenarios:
            say(config, f"[{impl}] starting a bare chain of the same shape (for comparison)")
            bare = BareChain(stack, impl_dir)
            bare.start()
            routes = impl_dir / "bare-chain-routes.json"
            routes.write_text(json.dumps(bare.routes(impl)))
            try:
                for scenario in profile.sweep_scenarios:
                    real = sweep(
                        impl, stack, stack_file, impl_dir, scenario, profile, seed_file, config,
                        None,
                    )  # fmt: skip
                    chain = sweep(
                        impl, stack, stack_file, impl_dir, scenario, profile, seed_file, config,
                        routes,
                    )  # fmt: skip
                    share = None
                    if real["capacity_rate"] and chain["capacity_rate"]:
                        share = real["capacity_rate"] / chain["capacity_rate"]
                    capacity[scenario] = {
                        **real,
                        "bare_chain": chain,
                        "share_of_bare_chain": share,
                        # The bare chain met the SLO at every rate tried: its capacity is
                        # higher still, so the share is at most this.
                        "share_is_upper_bound": chain["note"] is not None,
                    }
            finally:
                bare.stop()
        return {
            "impl": impl,
            "stack": {k: stack[k] for k in ("services",)},
            "calibration_ms": {
                name: {k: v for k, v in part.items() if k != "hdr"} for name, part in parts.items()
            },
            "floors_ms": floors,
            "runs": runs,
            "capacity": capacity,
        }
    finally:
        if stack_obj is not None:
            say(config, f"[{impl}] stopping the stack")
            stack_obj.stop()


def measured_run(
    impl: str,
    stack: dict,
    stack_file: Path,
    out: Path,
    scenario: str,
    rate: float,
    users: int,
    duration: float,
    warmup: float,
    seed_file: Path,
    config: BenchConfig,
) -> dict[str, Any]:
    """A Locust run with cost sampling around it and the services' own measurements."""
    if "bus" in stack:
        wait_quiet(stack, timeout_s=120)
    if impl == "async":
        metrics(stack, "query", reset=True)
    counters_before = counters(stack)
    xacts_before = cost.db_transactions(stack)
    bus_before = cost.bus_counters(stack)
    sampler = cost.ProcessSampler(stack)
    sampler.start()
    result = run_locust(
        stack_file, out, scenario, rate, users, duration, warmup, seed_file, config.seed, config
    )
    usage = sampler.stop()
    time.sleep(1.2)  # PostgreSQL publishes its statistics at most once a second
    xacts = cost.delta(cost.db_transactions(stack), xacts_before)
    bus = cost.delta(cost.bus_counters(stack), bus_before)
    counters_after = counters(stack)
    ok = sum(o["ok"] for o in result["operations"].values()) or 1
    # Cost counts the warm-up too (the sampler cannot tell requests apart): per 1,000 of all
    # successful requests, warm-up included, estimated from the measured window's rate.
    all_ok = ok * (duration + warmup) / duration
    result["cost"] = {
        "per_1000_ok": {
            name: {"cpu_s": u["cpu_s"] * 1000 / all_ok, "peak_mb": u["peak_mb"]}
            for name, u in usage.items()
        },
        "db_transactions_per_op": {name: n / all_ok for name, n in xacts.items()},
        "bus_per_op": {name: n / all_ok for name, n in bus.items()},
    }
    result["service_counters"] = {
        service: {
            name: value - counters_before.get(service, {}).get(name, 0)
            for name, value in values.items()
        }
        for service, values in counters_after.items()
    }
    if impl == "async":
        lag: dict[str, Any] = {}
        for snap in metrics(stack, "query"):
            for name, encoded in snap.histograms.items():
                lag.setdefault(name, []).append(encoded)
        result["visibility_lag_ms"] = {name: summary(merge(e)) for name, e in lag.items()}
        for name, encoded in lag.items():
            (out / f"hdr-server-{name}.txt").write_text(merge(encoded).encode().decode())
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result


def met(steps: list[dict[str, Any]], rate: float) -> bool:
    """A rate meets the SLO unless every run at it missed (a miss is always run twice)."""
    return any(s["meets_slo"] for s in steps if s["offered_rate"] == rate)


def capacity(steps: list[dict[str, Any]]) -> float | None:
    """The highest offered rate that met the SLO below every rate that missed it."""
    rates = {s["offered_rate"] for s in steps}
    ceiling = min((r for r in rates if not met(steps, r)), default=math.inf)
    return max((r for r in rates if met(steps, r) and r < ceiling), default=None)


def next_rate(steps: list[dict[str, Any]], profile: Profile) -> float | None:
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
    low = capacity(steps)
    high = min(r for r in tried if not met(steps, r))
    if refinements >= profile.refine_steps or low is None:
        return None
    middle = float(round((low + high) / 2))
    return None if middle in tried or middle <= low else middle


def sweep(
    impl: str,
    stack: dict,
    stack_file: Path,
    impl_dir: Path,
    scenario: str,
    profile: Profile,
    seed_file: Path,
    config: BenchConfig,
    bare_routes: Path | None,
) -> dict[str, Any]:
    """Stepped offered rates until the SLO fails: the capacity is the last rate that met it.
    With bare_routes, the same sweep against the bare chain."""
    steps: list[dict[str, Any]] = []
    what = "bare chain" if bare_routes else impl
    while (rate := next_rate(steps, profile)) is not None:
        if "bus" in stack:
            # An overloaded step leaves a backlog of events behind it; the next step must not
            # pay for it (it would measure the previous step, not its own rate).
            wait_quiet(stack, timeout_s=120)
        users = users_for(rate, 0)
        say(config, f"[{impl}] capacity sweep {scenario} ({what}): {rate:g}/s ...")
        prefix = "bare-sweep" if bare_routes else "sweep"
        attempt = 1 + sum(1 for s in steps if s["offered_rate"] == rate)
        retry = f"-try{attempt}" if attempt > 1 else ""  # a repeated rate gets its own files
        out = impl_dir / f"{prefix}-{scenario}@{rate:g}{retry}"
        run = run_locust(
            stack_file, out, scenario, rate, users, profile.sweep_duration_s, 2.0,
            seed_file, config.seed, config, bare_routes,
        )  # fmt: skip
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
        say(
            config,
            f"      p99={run['latency_ms'].get('p99_ms', float('nan')):.1f} ms "
            f"errors={run['error_rate']:.2%} -> {'meets' if passed else 'misses'} the SLO",
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


# --- the whole suite -------------------------------------------------------------------------
def run_bench(config: BenchConfig) -> Path:
    profile = PROFILES[config.profile]
    run_dir = config.results_dir / config.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    started = datetime.now(UTC)
    meta: dict[str, Any] = {
        "run_id": config.run_id,
        "started_at": started.isoformat(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "profile": asdict(profile),
        "seed": config.seed,
        "machine": machine_meta(),
    }
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    say(config, f"results -> {run_dir}")
    results = {impl: bench_impl(impl, config, run_dir) for impl in config.impls}
    meta["ended_at"] = datetime.now(UTC).isoformat()
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    summary_doc = {
        "run_id": config.run_id,
        "machine": meta["machine"],
        "impls": results,
        "targets": targets(results),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary_doc, indent=2))
    return run_dir


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """How close each run came to the goals of the benchmark issue (measured, never asserted)."""
    out: dict[str, Any] = {
        "p50_over_floor_max": 1.3,
        "lag_p99_ms_max": 5.0,
        "capacity_share_of_bare_chain_min": 0.7,
    }
    for impl, r in results.items():
        ratios = {
            f"{label}/{op}": x
            for label, run in r["runs"].items()
            for op, x in run["vs_floor"].items()
        }
        lag = {
            label: run["visibility_lag_ms"].get("visibility_lag_us", {}).get("p99_ms")
            for label, run in r["runs"].items()
            if "visibility_lag_ms" in run
        }
        out[impl] = {
            "p50_over_floor": ratios,
            "p50_within_1_3x_floor": all(x <= 1.3 for x in ratios.values()) if ratios else None,
            "generator_saturated_anywhere": any(
                run["generator_saturated"] for run in r["runs"].values()
            ),
            "visibility_lag_p99_ms": lag or None,
            "capacity_share_of_bare_chain": {
                scenario: cap["share_of_bare_chain"] for scenario, cap in r["capacity"].items()
            }
            or None,
        }
    return out


def table(summary_doc: dict[str, Any]) -> str:
    """A plain-text table of every run (printed by `lab bench` when no report exists)."""
    lines = []
    head = (
        f"{'impl':6} {'run':24} {'operation':15} {'ok':>7} {'err':>5} {'p50':>7} {'p90':>7} "
        f"{'p99':>7} {'p99.9':>7} {'x floor':>7}"
    )
    for impl, r in summary_doc["impls"].items():
        lines.append(head)
        for label, run in r["runs"].items():
            offered = run["offered_rate"]
            cpu = run["generator_cpu_percent"]["mean"]
            steal = run.get("machine", {}).get("steal_percent")
            lines.append(
                f"{impl:6} {label:24} offered {offered or '-'}/s "
                f"achieved {run['achieved_rate']:.1f}/s errors {run['error_rate']:.2%} "
                f"generator CPU {cpu:.0f}%"
                + (" SATURATED" if run["generator_saturated"] else "")
                + (f" steal {steal:.1f}%" if steal is not None else "")
            )
            for op, o in run["operations"].items():
                lat = o["latency_ms"]
                ratio = run["vs_floor"].get(op)
                lines.append(
                    f"{'':6} {'':24} {op:15} {o['ok']:>7} {sum(o['errors'].values()):>5} "
                    + " ".join(
                        f"{lat.get(k, float('nan')):7.2f}"
                        for k in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms")
                    )
                    + (f" {ratio:7.2f}" if ratio else f" {'-':>7}")
                )
            for name, probe in run.get("probe_ms", {}).items():
                lines.append(
                    f"{'':6} {'':24} probe {name}: p50 {probe.get('p50_ms', 0):.2f} "
                    f"p99 {probe.get('p99_ms', 0):.2f} ms (n={probe['count']})"
                )
            if run.get("probe_counters"):
                shown = ", ".join(f"{k}={v}" for k, v in sorted(run["probe_counters"].items()))
                lines.append(f"{'':6} {'':24} probe counters: {shown}")
            for name, lag in run.get("visibility_lag_ms", {}).items():
                if name in ("visibility_lag_us", "comment_status_lag_us"):
                    lines.append(
                        f"{'':6} {'':24} lag {name}: p50 {lag.get('p50_ms', 0):.2f} "
                        f"p99 {lag.get('p99_ms', 0):.2f} ms (n={lag['count']})"
                    )
        for scenario, cap in r["capacity"].items():
            share = cap["share_of_bare_chain"]
            lines.append(
                f"{impl:6} capacity at SLO (p99<={SLO_P99_MS:g} ms, errors<=0.1%) {scenario}: "
                f"{cap['capacity_rate']}/s"
                + (f" ({cap['note']})" if cap["note"] else "")
                + f"; bare chain of the same shape: {cap['bare_chain']['capacity_rate']}/s"
                + (
                    f" (share {'<=' if cap['share_is_upper_bound'] else ''}{share:.0%})"
                    if share
                    else ""
                )
            )
        lines.append("")
    return "\n".join(lines)
