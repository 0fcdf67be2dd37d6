"""The chaos runs' findings (lost writes, what stayed up while a database was down, recovery
and catch-up) and what the chaos tables share with them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from benchmarks.suite.stats import spread
from lab.report import fmt, sections
from lab.report.model import AUDIT_COLUMNS, AVAILABLE, IMPLS, Finding
from lab.report.sources import Run


def experiments(chaos: Iterable[Run]) -> list[tuple[Run, dict[str, Any]]]:
    return [(run, e) for run in chaos for e in run.summary.get("experiments", [])]


def why_failed(e: dict[str, Any]) -> str:
    """What made an experiment a failed run."""
    total = e.get("audit", {}).get("total", {})
    reasons = [
        f"{total[k]} {k.replace('_', ' ')}"
        for k in ("lost", "duplicated", "unexpected", "definite_failures_found")
        if total.get(k)
    ]
    ctk = e.get("chaostoolkit", {})
    if ctk and not ctk.get("every_activity_succeeded", True):
        reasons.append("a Chaos Toolkit activity failed")
    if (e.get("times") or {}).get("injected_at") is None:
        reasons.append("the fault was never injected and restored")
    return fmt.join(reasons, empty="marked invalid")


def lost_writes(chaos: Sequence[Run]) -> list[Finding]:
    every = experiments(chaos)
    totals = {
        k: sum(e.get("audit", {}).get("total", {}).get(k, 0) for _, e in every)
        for k in AUDIT_COLUMNS
    }
    counts = (
        f"{totals['attempted']:,} writes attempted, {totals['acknowledged']:,} acknowledged, "
        f"{totals['lost']} lost, {totals['duplicated']} duplicated, {totals['unexpected']} "
        f"unexpected, {totals['indeterminate']:,} indeterminate ({totals['recovered']:,} of them "
        f"found later)"
    )
    out = []
    for run in chaos:
        bad = [e for e in run.summary.get("experiments", []) if not e.get("valid", False)]
        if bad or run.summary.get("valid") is False:
            out.append(
                Finding(
                    "writes",
                    f"FAILED RUN: chaos run {run.run_id} "
                    + (
                        "is marked invalid in its summary"
                        if not bad
                        else f"failed {len(bad)} of "
                        f"{len(run.summary.get('experiments', []))} experiments"
                    )
                    + ".",
                    sections.AUDIT,
                    tuple(f"{e['impl']} {e['fault']}: {why_failed(e)}" for e in bad),
                    failed=True,
                )
            )
    if totals["lost"] == 0:
        out.append(
            Finding(
                "writes",
                f"No acknowledged write was lost in {len(every)} chaos experiments: {counts}.",
                sections.AUDIT,
            )
        )
    else:
        out.append(
            Finding(
                "writes", f"Acknowledged writes were lost: {counts}.", sections.AUDIT, failed=True
            )
        )
    return out


def component_name(fault: str) -> str:
    """ "kill-db:posts" -> "the posts database", "kill:query" -> "the query service",
    "kill-bus-node:leader" -> "one node of the bus (the event stream's leader)"."""
    kind, _, target = fault.partition(":")
    if kind.endswith("-db"):
        return f"the {target} database"
    if kind == "kill-bus":
        return "the bus"
    if kind.endswith("-bus-node"):
        return f"one node of the bus (the event stream's {target})"
    return f"the {target} service"


def during(chaos: Sequence[Run]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """fault -> impl -> op -> availability during the fault, one value per run that has it."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in chaos:
        for fault, by_op in run.summary.get("matrix", {}).get("rows", {}).items():
            for op, cells in by_op.items():
                for impl, cell in cells.items():
                    value = cell.get("during")
                    if value is not None:
                        out.setdefault(fault, {}).setdefault(impl, {}).setdefault(op, []).append(
                            value
                        )
    return out


def databases_down(chaos: Sequence[Run]) -> list[Finding]:
    matrix = during(chaos)
    # A database taken away (kill-db, freeze-db), not a slow one (slow-db: the gray faults).
    faults = [f for f in matrix if f.split(":")[0] in ("kill-db", "freeze-db")]
    if not faults:
        return [Finding("availability", "No chaos run took a database away.", sections.BLAST)]
    details = []
    for fault in faults:
        parts = []
        for impl in IMPLS:
            ops = matrix[fault].get(impl)
            if not ops:
                continue
            up = [op for op, values in ops.items() if min(values) >= AVAILABLE]
            parts.append(f"{impl} kept {fmt.join(up)} ({len(up)} of {len(ops)})")
        details.append(f"{component_name(fault)} down ({fault}): {'; '.join(parts)}")
    n = len(chaos)
    text = (
        "Operations that stayed available (≥ 99 % of requests succeeded"
        + (", in every chaos run that had the fault" if n > 1 else "")
        + ") while each database was down:"
    )
    return [Finding("availability", text, sections.BLAST, tuple(details))]


def slowest_recovery(e: dict[str, Any]) -> float | None:
    """The experiment's slowest operation's recovery, None if one never recovered."""
    values = list((e.get("recovery_s") or {}).values())
    if not values or any(v is None for v in values):
        return None
    return float(max(values))


def recovery(chaos: Sequence[Run]) -> list[Finding]:
    every = [e for _, e in experiments(chaos) if e.get("recovery_s")]
    if not every:
        return [Finding("recovery", "No chaos experiment measured a recovery.", sections.RECOVERY)]
    sides = []
    never = []
    for impl in IMPLS:
        mine = [e for e in every if e["impl"] == impl]
        if not mine:
            continue
        # recovery_s is 0.0 for an operation that never dropped: an experiment in which
        # nothing dropped has nothing to recover from, and would pull the figure down.
        dropped = [e for e in mine if slowest_recovery(e) != 0.0]
        rec = spread(slowest_recovery(e) for e in dropped)
        never += [f"{impl} {e['fault']}" for e in dropped if slowest_recovery(e) is None]
        untouched = len(mine) - len(dropped)
        sides.append(
            (f"{impl} {fmt.spread(rec, 's')}" if rec else f"{impl} -")
            + f" ({fmt.plural(len(dropped), 'experiment')}"
            + (f"; nothing dropped in {untouched} more" if untouched else "")
            + ")"
        )
    text = (
        "Back at ≥ 99 % after the restore (the slowest operation of each experiment in which "
        f"one dropped, median [min–max] over experiments): {'; '.join(sides)}."
        + (f" Never recovered within the run: {fmt.join(never)}." if never else "")
    )
    out = [Finding("recovery", text, sections.RECOVERY)]
    mine = [e for e in every if e["impl"] == "async"]
    conv = spread(e.get("convergence_s") for e in mine)
    unconverged = [e["fault"] for e in mine if e.get("convergence_s") is None]
    caught = [e for e in mine if (e.get("catch_up") or {}).get("refused")]
    refused = sum(e["catch_up"]["refused"] for e in caught)
    lasts = [
        (e["catch_up"]["last_refusal_after_restore_s"], e["fault"])
        for e in caught
        if e["catch_up"].get("last_refusal_after_restore_s") is not None
    ]
    if mine:
        text = (
            f"Async caught up (its read model equal to the owners' data again) "
            f"{fmt.spread(conv, 's') if conv else 'never'} after the restore "
            f"(over {fmt.plural(conv['n'] if conv else 0, 'experiment')}"
            + (f"; not measured or never converged: {fmt.join(unconverged)}" if unconverged else "")
            + "). "
            + (
                f"Meanwhile {refused} comments were refused on posts acknowledged ≥ 1 s earlier, "
                f"in {fmt.join(list(dict.fromkeys(e['fault'] for e in caught)))}"
                + (f"; the last {last_refusal(*max(lasts))}" if lasts else "")
                + "."
                if caught
                else "No comment was refused on a post acknowledged ≥ 1 s earlier."
            )
        )
        out.append(Finding("recovery", text, sections.RECOVERY))
    return out


def last_refusal(after_restore_s: float, fault: str) -> str:
    """When the last refusal came, relative to the restore (it may precede it)."""
    side = "after" if after_restore_s >= 0 else "before"
    return f"{fmt.seconds(abs(after_restore_s))} {side} the restore ({fault})"
