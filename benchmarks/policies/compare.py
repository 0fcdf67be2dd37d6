"""`lab bench --causality refuse,wait,accept`: read-your-writes across services, per policy of
the async comments service, with sync as the reference (docs/METHOD.md, Causality across
services).

Each policy (and sync) gets a fresh stack per repetition, the variants interleaved (sync refuse
wait accept, sync refuse wait accept, ...) so drift hits each alike; each stack is stopped after
its run. On it, one client at a modest fixed rate:

- `probes` times: CreatePost, then at once CreateComment on it (carrying CreatePost's consistency
  token: the client every policy gets; only `wait` uses it). A refusal (NOT_FOUND) is counted
  and retried every 2 ms with the same request_id, as a client would. Recorded: refusals per
  1,000 comments, the first CreateComment call's latency (whatever it answered), the time from
  its send to the acknowledgement (retries included), and the time from the acknowledgement to
  the comment's final status (APPROVED/REJECTED) in GetPostView.
- bad input: comments on post ids that never existed, sent together, without a token and (a
  few) with a token naming such a post: the time until the client has its answer, NOT_FOUND or,
  under `accept`, the comment's eventual REJECTED (polled in ListComments: a post that never
  existed has no view).

Then, on the same stack, the policies under load (unless `scenario` is None): seeded posts, a
measured Locust run of `scenario` (default `mixed`) in open loop at `load_rate` for
`load_duration_s` (benchmarks/suite/measured.py, as `lab bench` measures a scenario). Recorded:
CreateComment refusals (NOT_FOUND) per 1,000 CreateComment, its p50/p99 from the scheduled start,
the error rate, and (async) the query service's own `comment_status_lag_us` (a comment's creation
to its final status in the view; sync answers with the final status).

Then, once per repetition and fault of `faults` (given a FaultRunner: lab/chaos/policy_faults.py
runs a chaos experiment; this package may not import chaos), every variant the fault applies to, in
the same order: what a client sees during the fault (CreateComment availability and refusals per
1,000), after it, the time to converge, and the audit of the comments (nothing acknowledged may be
lost).

Writes results/<run-id>/meta.json, summary.json (every run, and per variant the median and
min-max over repetitions; "mixed"/"mixed_aggregate" and "faults"/"faults_aggregate" for the
load and the faults), and per run its JSON and HDR histograms; `lab bench` prints its tables.

The package, by concern: config (the settings and the variants they name), probe (the client
that measures), runs (one variant's run on its fresh stack), documents (what is written),
aggregate (spreads over repetitions), tables (the printed text), and here the comparison.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from benchmarks.policies.aggregate import aggregate, fault_aggregate, mixed_aggregate
from benchmarks.policies.config import POLICIES, CausalityConfig, label, say, variants
from benchmarks.policies.documents import CausalitySummary, FaultRun, MixedRun, ProbeRun
from benchmarks.policies.runs import probe_run
from benchmarks.policies.tables import fault_row
from lab.runs.machine import machine_meta
from lab.stack.faults import applies as fault_applies


class FaultRunner(Protocol):
    """Runs one chaos experiment for the comparison and returns its row
    (lab/chaos/policy_faults.py)."""

    def __call__(
        self, impl: str, policy: str | None, fault: str, repetition: int, out: Path
    ) -> FaultRun: ...


def applies(impl: str, fault: str) -> bool:
    """Whether `fault` (a clean or gray fault, any dose) applies to `impl`'s stack."""
    return fault_applies(fault, impl)


def check(config: CausalityConfig, faults: FaultRunner | None) -> None:
    """ValueError for a comparison that cannot run: no or unknown policies, faults without a
    runner, a fault no variant has."""
    unknown = [p for p in config.policies if p not in POLICIES]
    if unknown or not config.policies:
        raise ValueError(f"causality policies: choose from {POLICIES}, got {config.policies}")
    if config.faults and faults is None:
        raise ValueError("faults given without a runner for them")
    inapplicable = [f for f in config.faults if not any(applies(i, f) for i, _ in variants(config))]
    if inapplicable:
        raise ValueError(f"faults that apply to no variant: {inapplicable}")


def compare(config: CausalityConfig, faults: FaultRunner | None = None) -> Path:
    """Run every variant `repeat` times, interleaved; write meta.json and summary.json. With
    config.faults (and a runner for them), each repetition then runs each fault on every
    variant it applies to, in the same order."""
    check(config, faults)
    run_dir = config.results_dir / config.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    machine = machine_meta()
    meta = {
        "run_id": config.run_id,
        "kind": "causality",
        "started_at": datetime.now(UTC).isoformat(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "machine": machine,
    }
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    say(config, f"results -> {run_dir}")
    runs: dict[str, list[ProbeRun]] = {label(i, p): [] for i, p in variants(config)}
    mixed: dict[str, list[MixedRun]] = {}
    under: dict[str, dict[str, list[FaultRun]]] = {f: {} for f in config.faults}
    for repetition in range(1, config.repeat + 1):
        for impl, policy in variants(config):
            probe, load = probe_run(impl, policy, repetition, config, run_dir)
            runs[label(impl, policy)].append(probe)
            if load is not None:
                mixed.setdefault(label(impl, policy), []).append(load)
        for fault in config.faults:
            for impl, policy in variants(config):
                if faults is None or not applies(impl, fault):
                    continue
                name = label(impl, policy)
                say(config, f"[{name}] run {repetition}: {fault} ...")
                out = run_dir / "faults" / f"{name}-run{repetition}"
                found = faults(impl, policy, fault, repetition, out)
                found["directory"] = str(out.relative_to(run_dir) / found["directory"])
                under[fault].setdefault(name, []).append(found)
                say(config, f"[{name}] run {repetition}: {fault_row(fault, name, [found])}")
    meta["ended_at"] = datetime.now(UTC).isoformat()
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    document: CausalitySummary = {
        "run_id": config.run_id,
        "kind": "causality",
        "machine": machine,
        "runs": runs,
        "aggregate": {name: aggregate(r) for name, r in runs.items()},
    }
    if mixed:
        document["mixed"] = mixed
        document["mixed_aggregate"] = {name: mixed_aggregate(r) for name, r in mixed.items()}
    if config.faults:
        document["faults"] = under
        document["faults_aggregate"] = {
            fault: {name: fault_aggregate(r) for name, r in by.items()}
            for fault, by in under.items()
        }
    (run_dir / "summary.json").write_text(json.dumps(document, indent=2))
    return run_dir
