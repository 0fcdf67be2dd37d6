"""The chaos runs' tables: the blast-radius matrix beside the static coupling, recovery and
convergence, and each run's audit."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.suite.stats import spread
from lab.report import fmt
from lab.report.chaos_findings import during, experiments, slowest_recovery, why_failed
from lab.report.model import AUDIT_COLUMNS, AVAILABLE, IMPLS
from lab.report.sources import Run
from lab.report.tables import table


def ops_of(chaos: Sequence[Run]) -> list[str]:
    return list(
        dict.fromkeys(
            op
            for run in chaos
            for by_op in run.summary.get("matrix", {}).get("rows", {}).values()
            for op in by_op
        )
    )


def blast(chaos: Sequence[Run]) -> list[str]:
    matrix = during(chaos)
    ops = ops_of(chaos)
    agrees: dict[tuple[str, str, str], bool] = {}
    for run in chaos:
        for fault, by_op in run.summary.get("matrix", {}).get("rows", {}).items():
            for op, cells in by_op.items():
                for impl, cell in cells.items():
                    if cell.get("agrees") is False:
                        agrees[(fault, op, impl)] = False
    rows = []
    for fault, impls in matrix.items():
        cells = []
        for op in ops:
            parts = []
            for impl in IMPLS:
                values = impls.get(impl, {}).get(op)
                if not values:
                    parts.append("n/a")
                    continue
                lo, hi = min(values), max(values)
                low, high = fmt.share(lo), fmt.share(hi)
                text = low if low == high else f"{low.removesuffix(' %')}{fmt.DASH}{high}"
                parts.append(text + ("!" if not agrees.get((fault, op, impl), True) else ""))
            cells.append(" | ".join(parts))
        rows.append([fault, *cells])
    index_rows = []
    for run in chaos:
        idx = run.summary.get("matrix", {}).get("coupling_index", {})
        index_rows.append(
            f"coupling index of run {run.run_id}: "
            + ", ".join(f"{impl} {fmt.share(v)}" for impl, v in idx.items())
        )
    static: dict[str, dict[str, list[str]]] = {}
    for run in chaos:
        for by_op in run.summary.get("matrix", {}).get("rows", {}).values():
            for op, cells in by_op.items():
                for impl, cell in cells.items():
                    static.setdefault(op, {})[impl] = cell.get("depends_on", [])
    return [
        "Availability of each operation while the component was down, sync | async "
        + ("(the range over the runs where they differ)" if len(chaos) > 1 else "")
        + f"; ! marks a cell that disagrees with the static prediction (up iff the component is "
        f"not among the operation's dependencies; up = ≥ {fmt.share(AVAILABLE)}).",
        "",
        *table(["component killed", *ops], rows),
        *(f"- {line}" for line in index_rows),
        "",
        "The coupling index is the share of (component, operation) pairs, over operations the "
        "component does not own, in which the operation dropped below 99 %. Static coupling, "
        "derived from the topology the runner starts (lab/chaos/coupling.py):",
        "",
        *table(
            ["operation", "sync depends on", "async depends on"],
            [
                [op, ", ".join(d.get("sync", [])) or "-", ", ".join(d.get("async", [])) or "-"]
                for op, d in static.items()
            ],
        ),
    ]


def recovery(chaos: Sequence[Run]) -> list[str]:
    faults = list(dict.fromkeys(e["fault"] for _, e in experiments(chaos)))
    rows = []
    for fault in faults:
        mine = {
            impl: [e for _, e in experiments(chaos) if e["fault"] == fault and e["impl"] == impl]
            for impl in IMPLS
        }
        cells = []
        for impl in IMPLS:
            es = mine[impl]
            if not es:
                cells.append("n/a")
                continue
            rec = spread(slowest_recovery(e) for e in es)
            never = sum(slowest_recovery(e) is None for e in es)
            cells.append(
                (fmt.spread(rec, "s") if rec else "-") + (f" (never: {never})" if never else "")
            )
        conv = spread(e.get("convergence_s") for e in mine["async"])
        refused = spread((e.get("catch_up") or {}).get("refused") for e in mine["async"])
        last = spread(
            (e.get("catch_up") or {}).get("last_refusal_after_restore_s") for e in mine["async"]
        )
        rows.append(
            [
                fault,
                *cells,
                fmt.spread(conv, "s") if conv else "-",
                fmt.spread(refused, counts=True),
                fmt.spread(last, "s") if last else "-",
            ]
        )
    if not rows:
        return ["No chaos experiment.", ""]
    n = len(chaos)
    return [
        "Seconds from the restore to the start of the first whole second from which every "
        "operation stays at ≥ 99 % (the slowest operation), the async read model's convergence, "
        "and the comments refused on posts acknowledged ≥ 1 s earlier (catch-up)"
        + (f"; median [min–max] over {n} chaos runs" if n > 1 else "")
        + ".",
        "",
        *table(
            [
                "fault",
                "sync recovery",
                "async recovery",
                "async convergence",
                "refused comments",
                "last refusal after restore",
            ],
            rows,
        ),
    ]


def audit(run: Run) -> list[str]:
    rows = []
    for e in run.summary.get("experiments", []):
        total = e.get("audit", {}).get("total", {})
        verdict = "valid" if e.get("valid") else f"**FAILED RUN**: {why_failed(e)}"
        rows.append(
            [e["impl"], e["fault"], *(f"{total.get(c, 0):,}" for c in AUDIT_COLUMNS), verdict]
        )
    return table(["impl", "fault", *AUDIT_COLUMNS, "verdict"], rows)
