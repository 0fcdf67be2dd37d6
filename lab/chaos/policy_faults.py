"""The faults of the causality comparison (`lab bench --causality P,P --causality-faults F,F`;
docs/METHOD.md, Causality across services): one chaos experiment per variant (sync, or async
under one policy), fault and repetition, run as `lab chaos` runs it (lab/chaos/runner.py), and the
comparison's row it gives (benchmarks/policies/documents.py, FaultRun): what a client saw of
CreateComment during the fault and after the restore, the time to converge, the audit of the
comments and, under `accept`, the comments held past the bound and REJECTED."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from benchmarks.policies.config import label
from benchmarks.policies.documents import SERVER_COUNTERS, CommentAudit, CommentOutcomes, FaultRun
from benchmarks.suite.measured import metrics
from lab.chaos.phases import phase_of
from lab.chaos.profiles import PROFILES
from lab.chaos.records import FaultWindow, RequestRecord, read_request_log
from lab.chaos.runner import ExperimentContext, experiment_dir, run_experiment
from lab.stack.config import StackOptions
from lab.stack.stackfile import StackInfo


@dataclass
class FaultExperiments:
    """benchmarks.policies.compare.FaultRunner: one experiment in out/<impl>/<fault>/."""

    profile: str = "quick"  # lab/chaos/profiles.py
    seed: int = 1
    keep_data: bool = False
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    stack: StackOptions = field(default_factory=StackOptions)  # --no-metrics, --prometheus

    def __call__(
        self, impl: str, policy: str | None, fault: str, repetition: int, out: Path
    ) -> FaultRun:
        ctx = ExperimentContext(
            out,
            self.profile,
            PROFILES[self.profile],
            self.seed,
            self.keep_data,
            self.say,
            causality=policy,
            counters=comments_counters,
            stack=self.stack,
        )
        result = run_experiment(ctx, impl, fault)
        directory = experiment_dir(out, impl, fault, 1)
        records = read_request_log(sorted((directory / "requests").glob("requests-*.jsonl")))
        return fault_run(result, records, policy, repetition, str(directory.relative_to(out)))


def comments_counters(stack: StackInfo) -> dict[str, int]:
    """The comments service's causality counters, summed over its replicas (a counter never
    incremented is not reported: 0); {} for sync (no policy) and when a replica does not
    answer."""
    if "bus" not in stack:
        return {}
    totals: Counter[str] = Counter(dict.fromkeys(SERVER_COUNTERS, 0))
    try:
        for snap in metrics(stack, "comments"):
            for name in SERVER_COUNTERS:
                if name in snap.counters:
                    totals[name] += int(snap.counters[name])
    except grpc.RpcError:
        return {}
    return dict(totals)


def outcomes(records: Iterable[RequestRecord]) -> CommentOutcomes:
    """CreateComment among the records: answered OK, refused (NOT_FOUND), other failures."""
    comments = [r for r in records if r.op == "CreateComment"]
    ok = sum(r.ok for r in comments)
    refused = sum(r.status == "NOT_FOUND" for r in comments)
    errors = Counter(r.status for r in comments if not r.ok and r.status != "NOT_FOUND")
    n = len(comments)
    return {
        "requests": n,
        "ok": ok,
        "refused": refused,
        "errors": dict(errors),
        "availability": ok / n if n else None,
        "refusals_per_1000": 1000 * refused / n if n else None,
    }


def fault_run(
    result: dict[str, Any],
    records: Sequence[RequestRecord],
    policy: str | None,
    repetition: int,
    directory: str,
) -> FaultRun:
    """The comparison's row of one experiment (its result as lab/chaos/runner.py returns it, and
    its request log). Phases as the experiment's availability has them: during = scheduled in
    [injected, restored), after = from restored on; the warm-up is left out."""
    times = result.get("times") or {}
    injected, restored = times.get("injected_at"), times.get("restored_at")
    during = after = outcomes([])
    if injected is not None and restored is not None:
        window = FaultWindow(result["fault"], injected, restored)
        warmup_end = times["load_started_at"] + result["phases"]["warmup_s"]
        phase = {id(r): phase_of(r.scheduled, window, warmup_end) for r in records}
        during = outcomes(r for r in records if phase[id(r)] == "during")
        after = outcomes(r for r in records if phase[id(r)] == "after")
    kinds = result["audit"].get("kinds") or {}
    comments = kinds.get("CreateComment") or {}
    audit: CommentAudit = {
        "attempted": int(comments.get("attempted", 0)),
        "acknowledged": int(comments.get("acknowledged", 0)),
        "lost": int(comments.get("lost", 0)),
        "duplicated": int(comments.get("duplicated", 0)),
        "unexpected": int(comments.get("unexpected", 0)),
        "indeterminate": int(comments.get("indeterminate", 0)),
        "recovered": int(comments.get("recovered", 0)),
    }
    counters = result.get("counters") or {}
    catch_up = result.get("catch_up")
    return {
        "variant": label(result["impl"], policy),
        "impl": result["impl"],
        "policy": policy,
        "repetition": repetition,
        "fault": result["fault"],
        "valid": bool(result.get("valid")),
        "hold_s": restored - injected if injected is not None and restored is not None else None,
        "during": during,
        "after": after,
        "create_comment_p99_during_ms": (
            (result.get("p99_ms") or {}).get("CreateComment", {}).get("during")
        ),
        "recovery_s": (result.get("recovery_s") or {}).get("CreateComment"),
        "convergence_s": result.get("convergence_s"),
        "catch_up_refused": catch_up["refused"] if catch_up else None,
        "audit": audit,
        "rejected_unknown_post": counters.get("comments_rejected_unknown_post"),
        "directory": directory,
    }
