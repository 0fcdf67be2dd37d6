"""`lab chaos --overload`: for each base rate and variant (interleaved), a fresh stack under
open-loop load at the base rate, a spike to `spike` times the capacity C and back, run by Chaos
Toolkit like every other experiment (the load is the fault); then the timeline, the figures,
the audit and a figure per variant, written to results/<run-id>/<impl>/overload@<base>/."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.suite.profiles import GENERATOR_LAG_P99_MS, GENERATOR_SPLIT_RATE, SLO_P99_MS
from benchmarks.suite.seeding import seed, wait_quiet
from lab.chaos.audit import audit
from lab.chaos.experiment import Phases, overload_experiment, write_experiment
from lab.chaos.journal import run_chaostoolkit, summarize_journal
from lab.chaos.load import Engine, Load
from lab.chaos.observe import find
from lab.chaos.overload.figure import draw
from lab.chaos.overload.sampler import Sampler
from lab.chaos.overload.timeline import Second, figures, spike_send_lags, timeline
from lab.chaos.records import WRITES, read_request_log
from lab.chaos.runner import observed
from lab.runs.rundir import RunDir
from lab.stack.config import StackOptions
from lab.stack.control import ControlServer
from lab.stack.runner import fresh_stack
from lab.stack.stackfile import load_stack_file

# The generator's CPU priority above the stack's: the real-time class where permitted, else
# nice -5 (lab.chaos.load). On a small machine the spike saturates every core, and at equal
# priority the stack would take the generator's CPU: the spike would not be delivered, and the
# run would measure the generator (docs/METHOD.md, Overload). The generator still spends the
# same cores: the run records its processes, scheduler and niceness.
GENERATOR_NICENESS = -5
# Requests/s per asyncio generator process (the Locust generator's is GENERATOR_SPLIT_RATE).
ASYNCIO_SPLIT_RATE = 400.0


@dataclass(frozen=True)
class OverloadProfile:
    """Seconds at the base rate before the spike (after a warm-up), of the spike, and after."""

    phases: Phases  # warm-up, hold = the spike, observe = back at the base rate
    seed_posts: int


PROFILES: dict[str, OverloadProfile] = {
    "smoke": OverloadProfile(Phases(warmup_s=4, hold_s=5, observe_s=10), 10),
    "quick": OverloadProfile(Phases(warmup_s=10, hold_s=30, observe_s=60), 20),
    "full": OverloadProfile(Phases(warmup_s=15, hold_s=45, observe_s=90), 50),
}


@dataclass
class OverloadConfig:
    impls: list[str]
    capacity: float  # C, requests/s: plain sync's measured capacity (the rates' unit)
    capacity_source: str  # where C came from (a run id, or "given")
    bases: list[float] = field(default_factory=lambda: [0.5, 0.9])  # multiples of C
    spike: float = 2.0  # multiple of C
    profile: str = "quick"
    results_dir: Path = Path("results")
    seed: int = 1
    keep_data: bool = False
    generator: Engine = "asyncio"  # the load's generator (lab.chaos.load)
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    stack: StackOptions = field(default_factory=StackOptions)  # --no-metrics, --prometheus
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def plan(config: OverloadConfig) -> list[tuple[float, str]]:
    """(base multiple, impl) in run order: per base rate every variant, reversed every other
    base rate (A B C, C B A), so drift hits them alike."""
    order = []
    for i, base in enumerate(config.bases):
        impls = config.impls if i % 2 == 0 else list(reversed(config.impls))
        order += [(base, impl) for impl in impls]
    return order


def duration_s(config: OverloadConfig) -> float:
    """A forecast of the whole run, for the user (stack, seed and settling included)."""
    phases = PROFILES[config.profile].phases
    each = phases.warmup_s + 3 + phases.hold_s + phases.observe_s + 40
    return each * len(plan(config))


def run_overload(config: OverloadConfig) -> Path:
    profile = PROFILES[config.profile]
    run = RunDir.create(
        config.results_dir,
        "overload",
        {
            "impls": config.impls,
            "capacity": config.capacity,
            "capacity_source": config.capacity_source,
            "bases": config.bases,
            "spike": config.spike,
            "profile": config.profile,
            "seed": config.seed,
            "generator": config.generator,
        },
        run_id=config.run_id,
        profile={"phases": vars(profile.phases), "seed_posts": profile.seed_posts},
    )
    pairs = plan(config)
    config.say(
        f"results -> {run.path} ({len(pairs)} experiments, C = {config.capacity:g}/s from "
        f"{config.capacity_source}; about {duration_s(config) / 60:.0f} min)"
    )
    experiments = []
    for n, (base, impl) in enumerate(pairs, 1):
        config.say(f"--- overload {n}/{len(pairs)}: {impl} at {base:g} C, spike {config.spike:g} C")
        experiments.append(run_one(config, profile, impl, base, run.path))
    run.write_summary(
        {
            "run_id": run.run_id,
            "kind": "overload",
            "machine": run.meta["machine"],
            "capacity": config.capacity,
            "experiments": experiments,
            "valid": all(e["valid"] for e in experiments),
        }
    )
    run.finish()
    return run.path


def run_one(
    config: OverloadConfig, profile: OverloadProfile, impl: str, base: float, run_dir: Path
) -> dict[str, Any]:
    phases = profile.phases
    base_rate, spike_rate = base * config.capacity, config.spike * config.capacity
    out = run_dir / impl / f"overload@{base:g}"
    out.mkdir(parents=True, exist_ok=True)
    label = f"[{impl} overload@{base:g}]"
    say = config.say
    say(f"{label} starting the stack ...")
    with (
        fresh_stack(impl, config.stack, keep_data=config.keep_data, say=say) as stack,
        ControlServer(stack),
    ):
        info = load_stack_file(stack.stack_file)
        seed_file = out / "seed-posts.json"
        seed_file.write_text(json.dumps(seed(info, profile.seed_posts, random.Random(1))))
        rate_file = out / "rate"
        document = overload_experiment(
            impl, stack.stack_file, out / "requests", rate_file, base_rate, spike_rate, phases
        )
        write_experiment(out / "experiment.json", document)
        max_s = phases.warmup_s + phases.hold_s + phases.observe_s + 120
        sampler = Sampler(info)
        # One generator process per split rate of the spike; every run checks its own send lag.
        split = ASYNCIO_SPLIT_RATE if config.generator == "asyncio" else GENERATOR_SPLIT_RATE
        processes = max(1, math.ceil(spike_rate / split))
        # Before the generator starts: the audit reads the rows created since then, and the
        # asyncio generator sends its first request within milliseconds (before Load.start
        # returned, one comment was once counted lost: its row predated this time).
        load_started = time.time()
        load = Load.start(
            stack.stack_file,
            seed_file,
            out,
            rate=base_rate,
            max_s=max_s,
            seed=config.seed,
            rate_file=rate_file,
            processes=processes,
            niceness=GENERATOR_NICENESS,
            realtime=True,
            engine=config.generator,
        )
        niceness = load.generator_niceness()
        group_nice = load.generator_autogroup_nice()
        scheduler = load.generator_scheduler()
        sampler.start()
        try:
            say(
                f"{label} base {base_rate:.0f}/s for {phases.warmup_s:g} s (warm-up); generator: "
                f"{config.generator}, {processes} process(es), scheduler {scheduler}, niceness "
                f"{niceness}" + ("" if group_nice is None else f" (autogroup nice {group_nice})")
            )
            time.sleep(phases.warmup_s + 1.0)
            say(
                f"{label} spike to {spike_rate:.0f}/s for {phases.hold_s:g} s, then "
                f"{base_rate:.0f}/s for {phases.observe_s:g} s (Chaos Toolkit)"
            )
            code = run_chaostoolkit(
                out / "experiment.json",
                out / "journal.json",
                out / "chaostoolkit.log",
                timeout_s=max_s + 60,
            )
        finally:
            load.stop()
            samples = sampler.stop()
        say(f"{label} load stopped; settling and auditing ...")
        if "bus" in info:
            wait_quiet(info, timeout_s=120)
        records = read_request_log(load.log_files())
        found = find(info, load_started, records)
        report = audit([r for r in records if r.op in WRITES], observed(records, found))
    journal = summarize_journal(out / "journal.json")
    changes = _rate_changes(rate_file)
    spike_start, spike_end = (changes[0][0], changes[1][0]) if len(changes) >= 2 else (None, None)
    result: dict[str, Any] = {
        "impl": impl,
        "base": base,
        "spike": config.spike,
        "capacity": config.capacity,
        "base_rate": base_rate,
        "spike_rate": spike_rate,
        "requests": len(records),
        "times": {"load_started_at": load_started, "spike_at": spike_start, "back_at": spike_end},
        "chaostoolkit": {"exit_code": code, **journal.to_dict()},
        "audit": report.to_dict(),
        "sampler_problems": sampler.problems,
        "generator": {
            "engine": config.generator,
            "processes": processes,
            "niceness": niceness,
            "autogroup_nice": group_nice,
            "scheduler": scheduler,
        },
    }
    seconds: list[Second] = []
    if spike_start is not None and spike_end is not None:
        seconds = timeline(records, spike_start, samples, SLO_P99_MS)
        spike_s = spike_end - spike_start
        read = figures(
            seconds,
            spike_s,
            config.capacity,
            base_rate,
            spike_rate,
            SLO_P99_MS,
            GENERATOR_LAG_P99_MS,
            spike_send_lags(records, spike_start, spike_s),
        )
        result["figures"] = read.to_dict()
        (out / "timeline.json").write_text(json.dumps([_row(s) for s in seconds]) + "\n")
        draw(seconds, spike_s, f"{impl}: {base:g} C -> {config.spike:g} C -> {base:g} C", out)
    result["valid"] = bool(
        report.valid
        and journal.every_activity_succeeded
        and seconds
        and not result["figures"]["generator_behind"]
    )
    _report(say, label, result)
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _rate_changes(rate_file: Path) -> list[tuple[float, float]]:
    path = rate_file.with_suffix(".changes")
    if not path.exists():
        return []
    return [
        (float(at), float(rate))
        for at, rate in (line.split() for line in path.read_text().splitlines() if line.strip())
    ]


def _row(s: Second) -> dict[str, Any]:
    row = {k: getattr(s, k) for k in s.__slots__}  # type: ignore[attr-defined]
    row["good_share"] = s.good_share
    row["attempts_per_request"] = s.attempts_per_request
    return row


def _report(say: Callable[[str], None], label: str, result: dict[str, Any]) -> None:
    f = result.get("figures")
    if f:

        def sec(v: float | None) -> str:
            return "never" if v is None else f"{v:.0f} s"

        say(
            f"{label} recovery {sec(f['recovery_s'])}"
            + (" (METASTABLE: not back while the load was at its base)" if f["metastable"] else "")
            + (
                " (OVERLOADED AT ITS BASE: not within the SLO before the spike either)"
                if f["overloaded_at_base"]
                else ""
            )
            + f"; drain {sec(f['drain_s'])} (predicted {sec(f['predicted_drain_s'])}); "
            f"peak in flight {f['peak_in_flight']}"
            + (f", peak backlog {f['peak_backlog']}" if f["peak_backlog"] is not None else "")
            + (
                f"; attempts per request {f['attempts_before']:.2f} -> {f['attempts_spike']:.2f}"
                if f["attempts_before"] and f["attempts_spike"]
                else ""
            )
            + (" [GENERATOR BEHIND: not the system's behaviour]" if f["generator_behind"] else "")
        )
    total = result["audit"]["total"]
    say(
        f"{label} audit: attempted {total['attempted']}, acknowledged {total['acknowledged']}, "
        f"lost {total['lost']}, duplicated {total['duplicated']}, unexpected "
        f"{total['unexpected']} -> {'valid' if result['valid'] else 'FAILED RUN'}"
    )
