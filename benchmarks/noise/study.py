"""The noise study (`python -m benchmarks.noise`; docs/METHOD.md, Noise): the same fixed-rate
run near saturation, repeated, on the baseline and on variants that each change one variable,
all of one commit, interleaved; per run its p99 and achieved rate beside what each noise source
did (benchmarks/noise/sampler.py). The figure of merit is how much the p99 moves over the
repetitions of a variant: a variant that removes a dominant source makes it move less.

Runs are made in blocks: a fresh stack of one implementation set up as one variant, seeded, then
`steps_per_stack` runs one after the other, as a capacity sweep runs its steps on one stack
(checkpoints, autovacuum and the GC's older generations come with a stack's age). Blocks of
every variant and implementation are interleaved (plan.blocks).

A run directory of kind "noise" (lab/runs): RESULTS_DIR/<run-id>/ with meta.json, summary.json
(after every run: an interrupted study keeps what it measured), NOISE.md (the tables,
generated), runs/<variant>/<impl>/b<round>-s<step>.json (each run's Locust summary, noise sample
and figures); Locust's own files under raw/, removed at the end unless keep_raw.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.noise import affinity
from benchmarks.noise.figures import RunFigures, RunOutcome, run_figures
from benchmarks.noise.plan import Block, Pilot, PilotStep, blocks, rounds_for, slo_crossing
from benchmarks.noise.quiesce import quiesce
from benchmarks.noise.sampler import NoiseSampler
from benchmarks.noise.table import NOISE_MD, StudySummary, markdown
from benchmarks.noise.variants import VARIANTS, Variant
from benchmarks.suite.context import BenchConfig, Load, RunContext
from benchmarks.suite.driver import run_locust
from benchmarks.suite.results import RunSummary
from benchmarks.suite.seeding import seed, wait_quiet
from benchmarks.suite.sweep import flags
from lab.runs.rundir import RESULTS, RunDir, new_run_id
from lab.stack.config import StackOptions
from lab.stack.runner import Stack, fresh_stack

STATS_SETTLE_S = 1.2  # PostgreSQL publishes its statistics at most once a second
PILOT_WARMUP_S = 2.0


@dataclass
class StudyConfig:
    """`python -m benchmarks.noise`'s settings (written to summary.json)."""

    impls: list[str]
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    repeat: int = 6  # measured runs per variant and implementation (at least)
    steps_per_stack: int = 3
    scenario: str = "mixed"
    rates: dict[str, float] = field(default_factory=dict)  # impl -> offered; else the pilot's
    load_share: float = 0.8  # of the rate where the pilot's p99 reached the SLO
    duration_s: float = 20.0
    warmup_s: float = 3.0
    pilot_rates: tuple[float, ...] = (50, 100, 150, 200, 250, 300, 400, 500, 600, 800)
    pilot_duration_s: float = 6.0
    seed_posts: int = 200
    seed: int = 1
    results_dir: Path = RESULTS  # the run is RESULTS_DIR/<run-id>/
    keep_raw: bool = False
    progress: bool = True
    run_id: str = field(default_factory=new_run_id)


class Study:
    def __init__(self, config: StudyConfig) -> None:
        self.config = config
        self.run_dir = RunDir.create(
            config.results_dir, "noise", asdict(config), run_id=config.run_id, seed=config.seed
        )
        self.out = self.run_dir.path
        self.raw = self.out / "raw"
        self.runs: list[RunFigures] = []
        self.pilots: dict[str, Pilot] = {}
        self.rates: dict[str, float] = dict(config.rates)
        self.machine = self.run_dir.meta["machine"]

    def say(self, message: str) -> None:
        if self.config.progress:
            print(message, flush=True)

    # -- the whole study --------------------------------------------------------------------
    def run(self) -> Path:
        self.say(f"results -> {self.out}")
        for impl in self.config.impls:
            if impl not in self.rates:
                self.pilots[impl] = self.pilot(impl)
                self.rates[impl] = self.pilots[impl].rate
        self.say(f"offered rates: {', '.join(f'{i} {r:g}/s' for i, r in self.rates.items())}")
        variants = [VARIANTS[name] for name in self.config.variants]
        plan = blocks(
            variants, self.config.impls, rounds_for(self.config.repeat, self.config.steps_per_stack)
        )
        for n, block in enumerate(plan, 1):
            self.say(f"== block {n}/{len(plan)}: {block.variant.name} {block.impl}")
            self.block(block)
        self._write_summary()
        self.run_dir.finish()
        if not self.config.keep_raw:
            shutil.rmtree(self.raw, ignore_errors=True)
        return self.out

    # -- the pilot --------------------------------------------------------------------------
    def pilot(self, impl: str) -> Pilot:
        """A ladder of short runs on a fresh baseline stack, up to the first rate that misses."""
        config = self.config
        steps: list[PilotStep] = []
        with self.stack(impl, VARIANTS["baseline"]) as (stack, ctx):
            for rate in config.pilot_rates:
                self._settle(stack)
                self.say(f"[{impl}] pilot {config.scenario} at {rate:g}/s ...")
                load = Load(config.scenario, rate, 0, config.pilot_duration_s, PILOT_WARMUP_S)
                run = run_locust(ctx, load, self.raw / "pilot" / impl / f"{rate:g}")
                step = PilotStep(
                    rate, run["achieved_rate"], run["latency_ms"].get("p99_ms"), run["error_rate"]
                )
                steps.append(step)
                self.say(f"      p99 {step.p99_ms} ms, errors {step.error_rate:.2%}")
                if not step.meets_slo:
                    break
        slo_rate, note = slo_crossing(steps)
        rate = float(round(config.load_share * slo_rate))
        self.say(f"[{impl}] p99 reaches the SLO near {slo_rate:.0f}/s ({note}): runs at {rate:g}/s")
        return Pilot(steps, slo_rate, note, rate)

    # -- one block --------------------------------------------------------------------------
    def block(self, block: Block) -> None:
        config, variant, impl = self.config, block.variant, block.impl
        rate = self.rates[impl]
        with self.stack(impl, variant) as (stack, ctx):
            info = stack.describe()
            generator_cores: set[int] | None = None
            if variant.pin_generator:
                core = affinity.generator_core()
                assert core is not None, "pinning needs two cores (checked by the command)"
                generator_cores = {core}
                if variant.isolate_stack:
                    pinned = affinity.pin_stack(info, affinity.allowed_cores() - {core})
                    self.say(f"[{impl}] {pinned} threads of the stack kept off core {core}")
            for step in range(1, config.steps_per_stack + 1):
                quiesced = quiesce(info) if variant.quiesce else None
                if quiesced is not None:
                    self.say(f"[{impl}] quiesced in {quiesced.seconds:.1f} s {quiesced.problems}")
                self._settle(stack)
                label = f"{variant.name}/{impl}/b{block.index + 1}-s{step}"
                self.say(f"[{impl}] {label}: {config.scenario} at {rate:g}/s")
                sampler = NoiseSampler(info)
                sampler.start()
                pinning: AbstractContextManager[None] = (
                    affinity.pinned_children(generator_cores) if generator_cores else nullcontext()
                )
                load = Load(config.scenario, rate, 0, config.duration_s, config.warmup_s)
                with pinning:
                    run = run_locust(ctx, load, self.raw / label)
                sample = sampler.stop(settle_s=STATS_SETTLE_S)
                figures = run_figures(
                    variant.name, impl, block.index + 1, step, outcome(run), sample
                )
                self.runs.append(figures)
                self.say(
                    f"      p99 {figures.p99_ms} ms, achieved {figures.achieved_rate:.0f}/s, "
                    f"CPU pressure {_percent(figures.stall_share)}"
                    + ("" if figures.valid else f" [invalid: {'; '.join(figures.flags)}]")
                )
                record = {
                    "figures": asdict(figures),
                    "run": run,
                    "noise": asdict(sample),
                    "quiesced": asdict(quiesced) if quiesced else None,
                    "generator_cores": sorted(generator_cores) if generator_cores else None,
                }
                path = self.out / "runs" / f"{label}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(record, indent=2))
                self._write_summary()

    @contextmanager
    def stack(self, impl: str, variant: Variant) -> Iterator[tuple[Stack, RunContext]]:
        """A fresh stack set up as `variant`, seeded, with the RunContext its runs need."""
        config = self.config
        with fresh_stack(impl, StackOptions(noise=variant.knobs)) as stack:
            info = stack.describe()
            work = self.raw / "stacks" / f"{impl}-{time.monotonic_ns()}"
            work.mkdir(parents=True, exist_ok=True)
            seed_file = work / "seed-posts.json"
            self.say(f"[{impl}] {variant.name}: seeding {config.seed_posts} posts ...")
            seed_file.write_text(
                json.dumps(seed(info, config.seed_posts, random.Random(config.seed)))
            )
            bench = BenchConfig(
                impls=[impl],
                scenarios=[config.scenario],
                seed=config.seed,
                progress=config.progress,
                generator_priority=not variant.shared_generator,
                results_dir=self.raw,
                sweep=False,
            )
            yield stack, RunContext(impl, info, stack.stack_file, work, seed_file, bench)

    def _settle(self, stack: Stack) -> None:
        info = stack.describe()
        if "bus" in info:  # an earlier run's backlog must not be this run's load
            wait_quiet(info, timeout_s=120)

    # -- files ------------------------------------------------------------------------------
    def summary(self) -> StudySummary:
        return StudySummary(
            run_id=self.config.run_id,
            scenario=self.config.scenario,
            variants=list(self.config.variants),
            impls=list(self.config.impls),
            rates=self.rates,
            pilots=self.pilots,
            runs=self.runs,
            git_commit=self.machine["git_commit"],
            git_dirty=self.machine["git_dirty"],
            cpu_count=self.machine["cpu_count"] or 0,
            duration_s=self.config.duration_s,
            steps_per_stack=self.config.steps_per_stack,
        )

    def _write_summary(self) -> None:
        summary = self.summary()
        self.run_dir.write_summary(asdict(summary))
        (self.out / NOISE_MD).write_text(markdown(summary))


def outcome(run: RunSummary) -> RunOutcome:
    why, _ = flags(run)  # one rule for a valid step: the capacity sweep's
    return RunOutcome(
        offered_rate=run["offered_rate"] or 0.0,
        achieved_rate=run["achieved_rate"],
        p99_ms=run["latency_ms"].get("p99_ms"),
        error_rate=run["error_rate"],
        generator_behind=run["generator_behind"],
        generator_saturated=run["generator_saturated"],
        flags=why,
    )


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f} %"
