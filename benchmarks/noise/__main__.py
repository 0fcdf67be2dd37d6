"""`python -m benchmarks.noise`: the noise study (benchmarks/noise/study.py; docs/METHOD.md,
Noise). Bad options: one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.load.scenarios import SCENARIOS
from benchmarks.noise import affinity
from benchmarks.noise.study import Study, StudyConfig
from benchmarks.noise.table import NOISE_MD, load_summary, markdown
from benchmarks.noise.variants import VARIANTS
from lab.runs.rundir import RESULTS, RunError
from lab.stack.topology import IMPLS


class UsageError(Exception):
    """A bad option: printed as one line, exit code 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.noise",
        description="The noise study: the same fixed-rate run near saturation, repeated, on the "
        "baseline and on variants that each change one variable (interleaved, same commit); "
        "per run its p99 and achieved rate beside the sampled noise sources (CPU pressure, "
        "run-queue waits, checkpoints, autovacuum, WAL fsyncs, GC pauses). Writes OUT/NOISE.md "
        "(tables), summary.json and runs/ (each run's summary) in RESULTS_DIR/<run-id>/.",
    )
    p.add_argument("--impl", default="sync,async", help="sync, async or sync,async")
    p.add_argument(
        "--variants",
        default="all",
        help=f"comma-separated, from {', '.join(VARIANTS)} (default all; baseline always runs)",
    )
    p.add_argument(
        "--repeat", type=int, default=6, help="runs per variant and implementation (default 6)"
    )
    p.add_argument(
        "--steps-per-stack",
        type=int,
        default=3,
        help="runs one after the other on each fresh stack (default 3)",
    )
    p.add_argument("--scenario", default="mixed", help="the load's mix (default mixed)")
    p.add_argument(
        "--rate",
        default="auto",
        help="offered requests/s: N, or sync=N,async=M; auto (default): --load-share of the rate "
        "where a short pilot's p99 reaches the SLO",
    )
    p.add_argument("--load-share", type=float, default=0.8, help="with --rate auto (default 0.8)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per run (20)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before each run (3)")
    p.add_argument(
        "--pilot-duration", type=float, default=6.0, help="measured seconds per pilot step (6)"
    )
    p.add_argument("--seed-posts", type=int, default=200, help="posts seeded per stack (200)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--results-dir",
        default=str(RESULTS),
        help="the run goes to RESULTS_DIR/<run-id>/ (default results; to publish: "
        "docs/measurements/noise)",
    )
    p.add_argument("--keep-raw", action="store_true", help="keep Locust's files under raw/")
    p.add_argument(
        "--table", metavar="RUN_DIR", help="only regenerate RUN_DIR/NOISE.md from its summary"
    )
    return p


def parse_rates(text: str, impls: list[str]) -> dict[str, float]:
    """'auto' -> {} (the pilot decides); 'N' -> every implementation; 'sync=N,async=M'."""
    if text.strip() == "auto":
        return {}
    try:
        if "=" not in text:
            rate = float(text)
            rates = {impl: rate for impl in impls}
        else:
            rates = {k.strip(): float(v) for k, v in (p.split("=", 1) for p in text.split(","))}
    except ValueError:
        raise UsageError(f"--rate: auto, N or sync=N,async=M, got {text!r}") from None
    if set(rates) != set(impls) or min(rates.values()) <= 0:
        raise UsageError(f"--rate: a positive rate for each of {impls}, got {text!r}")
    return rates


def study_config(args: argparse.Namespace) -> StudyConfig:
    """The options, checked, as the study's configuration."""
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    if not impls or any(i not in IMPLS for i in impls):
        raise UsageError(f"--impl: choose from {list(IMPLS)}, got {args.impl!r}")
    names = (
        list(VARIANTS)
        if args.variants == "all"
        else [v.strip() for v in args.variants.split(",") if v.strip()]
    )
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise UsageError(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    if "baseline" not in names:
        names.insert(0, "baseline")
    if any(VARIANTS[v].pin_generator for v in names) and affinity.generator_core() is None:
        raise UsageError("--variants: pinning the generator needs 2 or more cores here")
    if args.scenario not in SCENARIOS or args.scenario == "read_your_writes":
        raise UsageError(f"--scenario: one of {sorted(set(SCENARIOS) - {'read_your_writes'})}")
    if args.repeat < 1 or args.steps_per_stack < 1:
        raise UsageError("--repeat and --steps-per-stack: 1 or more")
    if args.duration <= 0 or args.warmup < 0 or args.pilot_duration <= 0:
        raise UsageError("--duration and --pilot-duration: positive; --warmup: 0 or more")
    if not 0 < args.load_share <= 1.5:
        raise UsageError("--load-share: above 0, at most 1.5")
    config = StudyConfig(
        impls=impls,
        variants=names,
        repeat=args.repeat,
        steps_per_stack=args.steps_per_stack,
        scenario=args.scenario,
        rates=parse_rates(args.rate, impls),
        load_share=args.load_share,
        duration_s=args.duration,
        warmup_s=args.warmup,
        pilot_duration_s=args.pilot_duration,
        seed_posts=args.seed_posts,
        seed=args.seed,
        results_dir=Path(args.results_dir),
        keep_raw=args.keep_raw,
    )
    if (config.results_dir / config.run_id).exists():
        raise UsageError(f"--results-dir: {config.results_dir / config.run_id} exists already")
    return config


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.table:
            directory = Path(args.table)
            try:
                summary = load_summary(directory)
            except RunError as error:
                raise UsageError(f"--table: {error}") from None
            (directory / NOISE_MD).write_text(markdown(summary))
            print(directory / NOISE_MD)
            return 0
        config = study_config(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Study(config).run()
    print((out / NOISE_MD).read_text())
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
