"""Where the report's numbers stop being trustworthy, computed from the runs where they can be
(the machine, the repetitions, the sample sizes, the confidence intervals, the cells too small),
each with what it would change on real hardware (docs/METHOD.md, Results and report)."""

from __future__ import annotations

from collections.abc import Mapping
from math import comb
from typing import Any

from lab.report import fmt
from lab.report.capacity_section import resolution
from lab.report.sources import Runs

P99_9_MIN_SAMPLES = 1000  # a p99.9 over fewer rests on one or two requests


def limits(runs: Runs) -> list[str]:
    """One line per limit, most general first."""
    out: list[str] = []
    machine: dict[str, Any] = next((r.meta.get("machine", {}) for r in runs.measured()), {})
    cores = machine.get("cpu_count")
    out.append(
        f"**One host, {cores or '?'} shared cores**: every service, its PostgreSQL server, the "
        "bus and the load generator ran on the same cores, so each one's CPU slows the others. "
        "On separate machines sync's extra hops would cost less CPU contention but add network "
        "round trips; async's consumers would stop competing with the request path."
    )
    out.append(
        "**Loopback**: no network between the processes (a round trip costs ~0.05 ms here, "
        "0.1-0.5 ms in a data centre). Sync pays one round trip per hop on the request path "
        "(CreateComment: 2 more than async), so real networks widen sync's latency gap; a "
        "partition or a slow link is a gray fault the lab injects with proxies, not a property "
        "of this network."
    )
    if runs.bench is not None:
        out += _bench(runs.bench.summary)
    for chaos in runs.chaos:
        out += _chaos(chaos.summary)
    if runs.chaos or runs.dose_response is not None:
        out.append(
            "**Chaos stacks carry fault proxies**: every link of a chaos experiment's stack "
            "(each service to its database, its peers and the bus; the clients to each service) "
            "goes through the lab's fault proxy, so that clean and gray faults are measured on one "
            "stack shape. The proxy costs latency and CPU of its own (`lab bench --fault-proxies` "
            "measures it; docs/METHOD.md, Gray faults): read chaos latencies against each other, "
            "not against the benchmark's tables."
        )
    if runs.provenance:
        out.append(
            "**Provenance**: these runs are NOT one clean commit's finished runs ("
            + "; ".join(runs.provenance)
            + "); `--allow-mixed` put them in one report anyway."
        )
    return out


def _bench(doc: Mapping[str, Any]) -> list[str]:
    out = []
    if not any(a.get("capacity") for a in doc.get("aggregate", {}).values()):
        out.append(
            "**No capacity measured**: this benchmark run skipped the capacity sweep, so the "
            "answer says nothing about throughput (`lab bench` without `--no-sweep` measures it)."
        )
    reps = int(doc.get("repetitions", 0))
    if reps == 1:
        out.append(
            "**1 repetition**: no spread, so no difference between variants is called (every "
            "verdict says n/a); the figures are one run's."
        )
    elif reps > 1:
        # Two equal variants' ranges miss each other when one side takes all the lowest values.
        chance = comb(2 * reps, reps) // 2
        out.append(
            f"**{reps} repetitions**: a difference is called only when the repetitions' ranges "
            f"do not overlap; two equal variants are still called different by chance 1 in "
            f"{chance} times (docs/METHOD.md, Noise)"
            + (", so these verdicts are hints." if reps <= 2 else ".")
        )
    thin = []
    for impl, agg in doc.get("aggregate", {}).items():
        for label, run in agg.get("runs", {}).items():
            for op, o in run.get("operations", {}).items():
                count = o["latency_ms"].get("p99.9_ms", {})
                n = _requests(doc, impl, label, op)
                if count and n is not None and n < P99_9_MIN_SAMPLES * reps:
                    thin.append(f"{impl} {op} at {label} ({fmt.count(n / max(reps, 1))})")
    if thin:
        out.append(
            f"**Tails of few requests**: a p99.9 rests on its slowest 0.1 %; with fewer than "
            f"{P99_9_MIN_SAMPLES:,} requests per repetition it is one or two of them: "
            + fmt.join(thin[:6])
            + (f" and {len(thin) - 6} more" if len(thin) > 6 else "")
            + " (requests per repetition). Read such p99.9s as orders of magnitude."
        )
    unresolved = []
    for impl, agg in doc.get("aggregate", {}).items():
        for scenario, cap in agg.get("capacity", {}).items():
            curve = cap["implementation"]
            if not curve.get("resolved"):
                why = resolution(curve).removeprefix("no (").removesuffix(")")
                unresolved.append(f"{impl} {scenario} ({why})")
    if unresolved:
        out.append(
            "**Capacity not resolved to ±10 %** for "
            + fmt.join(unresolved)
            + ": its 95 % confidence interval is wider than the goal (or the load curve did not "
            "cross the SLO within its grid); quieter cores or more repetitions, each on a fresh "
            "stack, would narrow it, longer steps much less (docs/METHOD.md, Does it repeat?). "
            "The plateau (most goodput sustained) is the steadier figure."
        )
    return out


def _requests(doc: Mapping[str, Any], impl: str, label: str, op: str) -> int | None:
    total = 0
    for rep in doc.get("reps", []):
        run = rep.get("impls", {}).get(impl, {}).get("runs", {}).get(label)
        if run is None:
            return None
        o = run.get("operations", {}).get(op)
        total += int(o["latency_ms"].get("count", 0)) if o else 0
    return total


def _chaos(summary: Mapping[str, Any]) -> list[str]:
    small = []
    for fault, by_op in summary.get("matrix", {}).get("rows", {}).items():
        for op, by_impl in by_op.items():
            for impl, cell in by_impl.items():
                if cell["cell"].get("small"):
                    small.append(f"{impl} {op} under {fault} ({cell['cell']['requests']})")
    if not small:
        return []
    return [
        f"**Small chaos cells**: {len(small)} cells of the blast-radius matrix rest on fewer than "
        "200 requests, e.g. " + fmt.join(small[:4]) + "; their p99 is flagged in the table."
    ]
