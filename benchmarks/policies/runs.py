"""One variant's run in `lab bench --causality`: a fresh stack, the probe on it, then (when the
comparison has a scenario) the same stack under the scenario's measured load, as `lab bench`
measures one (docs/METHOD.md, Causality across services).

Writes, under the variant's directory, run<n>.json (a ProbeRun) and the probe's HDR histograms,
and per load run its directory with causality.json (a MixedRun) beside the measured run's files.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from hdrh.histogram import HdrHistogram

from benchmarks.load.hdr import new_histogram, summary
from benchmarks.policies.config import CausalityConfig, label, say
from benchmarks.policies.documents import SERVER_COUNTERS, MixedRun, ProbeRun
from benchmarks.policies.probe import FINAL_LIMIT_S, Probe
from benchmarks.policies.tables import mixed_row, row
from benchmarks.suite.context import BenchConfig, Load, RunContext
from benchmarks.suite.driver import users_for
from benchmarks.suite.measured import measured_run
from benchmarks.suite.results import MeasuredRun
from benchmarks.suite.seeding import seed
from blog.domain import CAUSALITY_ACCEPT_S
from blog.rpc.metrics import decode_histogram
from blog.rpc.metrics import fetch as fetch_metrics
from lab.stack.client import BlogClient
from lab.stack.runner import Stack, fresh_stack
from lab.stack.stackfile import load_stack_file


def server_counters(addresses: list[str]) -> tuple[dict[str, int], list[bytes]]:
    """The comments service's causality counters summed over its replicas, and their encoded
    `wait` histograms; each replica's metrics are reset as they are read."""
    counters: Counter[str] = Counter()
    waits: list[bytes] = []
    for address in addresses:
        snap = fetch_metrics(address, reset=True)
        for name in SERVER_COUNTERS:
            counters[name] += int(snap.counters.get(name, 0))
        if "causality_wait_us" in snap.histograms:
            waits.append(snap.histograms["causality_wait_us"])
    return {name: counters[name] for name in SERVER_COUNTERS}, waits


def probe_run(
    impl: str, policy: str | None, repetition: int, config: CausalityConfig, run_dir: Path
) -> tuple[ProbeRun, MixedRun | None]:
    """The probe on a fresh stack, then (config.scenario) the same stack under load."""
    name = label(impl, policy)
    out = run_dir / name
    out.mkdir(parents=True, exist_ok=True)
    say(config, f"[{name}] run {repetition}: starting a fresh stack ...")
    options = replace(
        config.stack,
        causality=policy,
        causality_wait_ms=config.causality_wait_ms,
        causality_accept_s=config.causality_accept_s,
    )
    api: BlogClient | None = None
    with fresh_stack(impl, options) as stack:
        try:
            api = BlogClient.from_stack_file(stack.stack_file)
            comments = stack.describe()["services"]["comments"]
            probe = Probe(api)
            for _ in range(config.warmup):
                probe.pair(measured=False)
            before, _ = server_counters(comments)
            started = time.perf_counter()
            for i in range(config.probes):
                pause = started + i / config.rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                probe.pair(measured=True)
            duration = time.perf_counter() - started
            accept_s = (
                CAUSALITY_ACCEPT_S
                if config.causality_accept_s is None
                else config.causality_accept_s
            )
            limit = accept_s + FINAL_LIMIT_S
            bad = probe.bad_input(config.bad_input, with_token=False, limit_s=limit)
            bad_token = probe.bad_input(config.bad_input_token, with_token=True, limit_s=limit)
            after, waits = server_counters(comments)
            result: ProbeRun = {
                "variant": name,
                "impl": impl,
                "policy": policy,
                "repetition": repetition,
                "comments": config.probes,
                "refused_first_try": probe.refused,
                "refusals_per_1000": 1000 * probe.refused / max(1, config.probes),
                "never_acknowledged": probe.never_acknowledged,
                "never_final": probe.never_final,
                "create_comment_ms": summary(probe.first_call),
                "acknowledged_ms": summary(probe.acknowledged),
                "final_status_ms": summary(probe.final),
                "send_to_final_ms": summary(probe.send_to_final),
                "bad_input": bad,
                "bad_input_with_token": bad_token,
                "server": {k: after[k] - before[k] for k in SERVER_COUNTERS},
                "server_wait_ms": summary(_merged(waits)),
                "duration_s": duration,
            }
            (out / f"run{repetition}.json").write_text(json.dumps(result, indent=2))
            for hist_name, hist in (
                ("create_comment", probe.first_call),
                ("acknowledged", probe.acknowledged),
                ("final_status", probe.final),
                ("send_to_final", probe.send_to_final),
            ):
                (out / f"hdr-{hist_name}-run{repetition}.txt").write_bytes(hist.encode())
            say(config, f"[{name}] run {repetition}: {row(name, [result])}")
            mixed = None
            if config.scenario:
                mixed = load_run(stack, impl, policy, repetition, config, out)
                say(config, f"[{name}] run {repetition}: {mixed_row(name, [mixed])}")
            return result, mixed
        finally:
            if api is not None:
                api.close()


def load_run(
    stack_obj: Stack,
    impl: str,
    policy: str | None,
    repetition: int,
    config: CausalityConfig,
    out: Path,
) -> MixedRun:
    """Seed posts, then one measured Locust run of the scenario (as `lab bench` measures one)."""
    assert config.scenario is not None
    stack = load_stack_file(stack_obj.stack_file)
    load_dir = out / f"{config.scenario}@{config.load_rate:g}-run{repetition}"
    load_dir.mkdir(parents=True, exist_ok=True)
    seed_file = load_dir / "seed-posts.json"
    seed_file.write_text(json.dumps(seed(stack, config.seed_posts, random.Random(config.seed))))
    bench = BenchConfig(
        impls=[impl],
        rate=config.load_rate,
        duration_s=config.load_duration_s,
        results_dir=config.results_dir,
        seed=config.seed,
        sweep=False,
        progress=config.progress,
        run_id=config.run_id,
    )
    ctx = RunContext(impl, stack, stack_obj.stack_file, out, seed_file, bench)
    load = Load(
        config.scenario,
        config.load_rate,
        users_for(config.load_rate, 0),
        config.load_duration_s,
        config.load_warmup_s,
    )
    say(
        config,
        f"[{label(impl, policy)}] run {repetition}: {config.scenario} at "
        f"{config.load_rate:g}/s for {config.load_duration_s:g} s ...",
    )
    run = measured_run(ctx, load, load_dir)
    result = mixed_result(run, impl, policy, repetition)
    (load_dir / "causality.json").write_text(json.dumps(result, indent=2))
    return result


def mixed_result(run: MeasuredRun, impl: str, policy: str | None, repetition: int) -> MixedRun:
    """What a measured run says about CreateComment (pure: tested)."""
    op = run["operations"].get("CreateComment")
    errors = dict(op["errors"]) if op else {}
    comments = (op["ok"] + sum(errors.values())) if op else 0
    refused = errors.get("NOT_FOUND", 0)
    counters = run.get("service_counters", {}).get("comments", {})
    return {
        "variant": label(impl, policy),
        "impl": impl,
        "policy": policy,
        "repetition": repetition,
        "scenario": run["scenario"],
        "offered_rate": run["offered_rate"] or 0.0,
        "achieved_rate": run["achieved_rate"],
        "duration_s": run["duration_s"],
        "error_rate": run["error_rate"],
        "comments": comments,
        "refused": refused,
        "refusals_per_1000": 1000 * refused / comments if comments else None,
        "comment_errors": errors,
        "create_comment_ms": op["latency_ms"] if op else {"count": 0},
        "comment_status_lag_ms": run.get("visibility_lag_ms", {}).get(
            "comment_status_lag_us", {"count": 0}
        ),
        "server": {k: int(counters.get(k, 0)) for k in SERVER_COUNTERS},
        "generator_saturated": run["generator_saturated"],
        "steal_percent": run.get("machine", {}).get("steal_percent"),
    }


def _merged(encoded: list[bytes]) -> HdrHistogram:
    """One histogram of the encoded ones."""
    total = new_histogram()
    for item in encoded:
        total.add(decode_histogram(item))
    return total
