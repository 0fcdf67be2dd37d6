"""The chaos runs' tables (docs/METHOD.md, Coupling and failure isolation): the blast-radius
matrix with latency beside availability and the request count behind each cell, every cell
that disagrees with the static prediction explained in words, the coupling index both ways,
recovery at request resolution, and every experiment's audit (with the refused writes, so that
its rows add up)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lab.report import fmt
from lab.report.rule import Range
from lab.report.sources import Run, experiment_dir
from lab.report.tables import table

AUDIT_COLUMNS = (
    "attempted",
    "acknowledged",
    "refused",
    "indeterminate",
    "recovered",
    "lost",
    "duplicated",
    "unexpected",
)


def experiments(chaos: Sequence[Run]) -> list[tuple[Run, dict[str, Any]]]:
    return [(run, e) for run in chaos for e in run.summary.get("experiments", [])]


def impls_of(chaos: Sequence[Run]) -> list[str]:
    order = ("sync", "sync-resilient", "async")
    seen = {e["impl"] for _, e in experiments(chaos)}
    return [i for i in order if i in seen] + sorted(seen.difference(order))


def cell_text(mc: dict[str, Any]) -> str:
    """availability · p99 · requests, with its marks: ! differs from the static prediction,
    * down by latency, ~ a small cell, (p) partial answers counted apart."""
    c = mc["cell"]
    if not c["requests"]:
        return "-"
    marks = ""
    if mc.get("agrees") is False:
        marks += "!"
    if c.get("up_by_availability") and not c.get("up"):
        marks += "*"
    if c.get("small"):
        marks += "~"
    p99 = "-" if c.get("p99_ms") is None else f"{fmt.num(c['p99_ms'])} ms"
    partial = f" +{fmt.share(c['partial'] / c['requests'])} partial" if c.get("partial") else ""
    return f"{fmt.share(c['availability'])}{partial} · {p99} · {c['requests']:,}{marks}"


def blast(chaos: Sequence[Run]) -> list[str]:
    impls = impls_of(chaos)
    out = [
        "Each cell: availability (complete answers) · p99 of the answers (from the scheduled "
        "start) · requests, while the fault held, pooled over the experiment's repetitions. "
        "Marks: **!** differs from the static prediction (the operation's dependencies, "
        "derived from the topology), **\\*** available but down by latency (p99 over the SLO), "
        "**~** fewer than 200 requests (read the p99 with care). An operation is *up* at "
        f">= {fmt.share(0.99)} and a p99 within the SLO.",
        "",
    ]
    for run in chaos:
        rows_by_fault = run.summary.get("matrix", {}).get("rows", {})
        for fault, by_op in rows_by_fault.items():
            rows = [
                [op] + [cell_text(by_op[op][i]) if i in by_op[op] else "n/a" for i in impls]
                for op in by_op
            ]
            out += [f"**{fault}**", "", *table(["operation", *impls], rows)]
    out += unexpected(chaos)
    out += coupling(chaos)
    return out


def unexpected(chaos: Sequence[Run]) -> list[str]:
    """Each cell that disagrees with the static prediction, in words: what the call graph
    predicted, what was measured, and the errors the requests got."""
    lines = []
    for run in chaos:
        for fault, by_op in run.summary.get("matrix", {}).get("rows", {}).items():
            for op, by_impl in by_op.items():
                for impl, mc in by_impl.items():
                    if mc.get("agrees") is not False:
                        continue
                    predicted = "up" if mc["predicted_up"] else "down"
                    needs = ", ".join(mc.get("depends_on", [])) or "nothing"
                    errors = errors_during(run, impl, fault, op)
                    why = (
                        "its requests got "
                        + fmt.join([f"{s} ({n})" for s, n in errors.most_common(3)])
                        if errors
                        else "its answers came, but late"
                    )
                    lines.append(
                        f"- **{impl} {op} under {fault}**: predicted {predicted} (it needs "
                        f"{needs} at request time), measured "
                        f"{fmt.share(mc['cell']['availability'])} available; {why}. "
                        f"{_reading(impl, fault, op, errors)}"
                    )
    if not lines:
        return ["Every cell agrees with the static prediction.", ""]
    return ["Cells that disagree with the static prediction, explained:", "", *lines, ""]


def _reading(impl: str, fault: str, op: str, errors: Counter[str]) -> str:
    """The usual cause of a disagreement, named from the evidence (the error statuses)."""
    if fault.startswith("kill-bus") and errors.get("NOT_FOUND"):
        return (
            "No request needs the bus, but the read model and the comments service learn of "
            "new posts only through it: posts created during the outage are unknown to them "
            "(freshness, not availability, is what async couples)."
        )
    if errors.get("DEADLINE_EXCEEDED"):
        return "Requests waited out their deadline: a stalled dependency held them."
    if errors.get("RESOURCE_EXHAUSTED"):
        return "A server shed load: its bound of requests in flight was reached."
    if errors.get("UNAVAILABLE"):
        return "A dependency refused or dropped the connection."
    return ""


def errors_during(run: Run, impl: str, fault: str, op: str) -> Counter[str]:
    """Error statuses of `op`'s requests during the fault, over every repetition's timeline."""
    found: Counter[str] = Counter()
    for _, e in experiments([run]):
        if e["impl"] != impl or e["fault"] != fault:
            continue
        path = experiment_dir(run, impl, fault, int(e.get("repetition", 1))) / "timeline.json"
        try:
            rows = json.loads(path.read_text()).get("rows", [])
        except (OSError, ValueError):
            continue
        restored = e["times"]["restored_at"] - e["times"]["injected_at"]
        for row in rows:
            if row.get("op") == op and 0 <= row.get("second", -1) < restored:
                found.update(row.get("errors", {}))
    return found


def coupling(chaos: Sequence[Run]) -> list[str]:
    rows = []
    for run in chaos:
        matrix = run.summary.get("matrix", {})
        per_rep = matrix.get("coupling_index_per_repetition", {})
        for impl in impls_of([run]):
            up = _rep_range(per_rep.get("up", {}).get(impl, []))
            available = _rep_range(per_rep.get("availability", {}).get(impl, []))
            rows.append(
                [
                    run.run_id,
                    impl,
                    fmt.share(matrix.get("coupling_index_up", {}).get(impl)),
                    _pct_range(up),
                    fmt.share(matrix.get("coupling_index", {}).get(impl)),
                    _pct_range(available),
                ]
            )
    return [
        "The coupling index: the share of (fault, operation) pairs, over the operations the "
        "failed part does not own, in which the operation was not up. Read two ways: *up* "
        "(availability and p99 within the SLO) and by availability alone; pooled over the "
        "repetitions, and each repetition's own index as its spread.",
        "",
        *table(["run", "variant", "by up", "repetitions", "by availability", "repetitions"], rows),
    ]


def _rep_range(values: list[float | None]) -> Range | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    present.sort()
    return Range(present[len(present) // 2], present[0], present[-1], len(present))


def _pct_range(r: Range | None) -> str:
    if r is None:
        return "-"
    if r.low == r.high:
        return fmt.share(r.value)
    return f"{fmt.share(r.value)} [{fmt.share(r.low)}{fmt.DASH}{fmt.share(r.high)}]"


def recovery(chaos: Sequence[Run]) -> list[str]:
    impls = impls_of(chaos)
    rows = []
    for run in chaos:
        for fault, by_op in run.summary.get("matrix", {}).get("rows", {}).items():
            cells = []
            for impl in impls:
                slowest, op_of, never, resolution = None, "", 0, []
                for op, by_impl in by_op.items():
                    mc = by_impl.get(impl)
                    if mc is None:
                        continue
                    never += int(mc.get("never_recovered", 0))
                    rec = mc.get("recovery_s")
                    if rec and (slowest is None or rec["median"] > slowest["median"]):
                        slowest, op_of = rec, op
                for _, e in experiments([run]):
                    if e["impl"] == impl and e["fault"] == fault:
                        resolution += [
                            r["resolution_s"]
                            for r in (e.get("recovery") or {}).values()
                            if r.get("resolution_s")
                        ]
                if slowest is None and not never:
                    cells.append("n/a")
                    continue
                text = f"{fmt.spread(slowest, 's')} ({op_of})" if slowest else "-"
                if never:
                    text += f"; never: {never}"
                if resolution:
                    text += f"; ±{fmt.num(max(resolution) * 1000)} ms"
                cells.append(text)
            rows.append([fault, *cells])
    convergence = []
    for _run, e in experiments(chaos):
        if e.get("convergence_s") is not None:
            which = f"{e['impl']} {e['fault']} #{e.get('repetition', 1)}"
            convergence.append(f"{which}: {fmt.seconds(e['convergence_s'])}")
    out = [
        "The slowest operation's recovery after each restore (median [min–max] over the "
        "repetitions; which operation; how many operation-repetitions never came back; ± the "
        "resolution: the widest gap between an operation's requests). An operation is back at "
        "the first request after the restore that starts a whole second in which every request "
        "of it succeeded.",
        "",
        *table(["fault", *impls], rows),
    ]
    if convergence:
        out += [
            "Async convergence (restore to every acknowledged write in the read model with its "
            "final status): " + "; ".join(convergence) + ".",
            "",
        ]
    return out


def audit(chaos: Sequence[Run], extra: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[str]:
    """Every experiment's audit; `extra`: (label, audit) pairs of other runs (overload)."""
    rows = []
    for _, e in experiments(chaos):
        label = f"{e['impl']} {e['fault']}" + (
            f" #{e['repetition']}" if e.get("repetition", 1) > 1 else ""
        )
        rows.append(_audit_row(label, e.get("audit", {}), e.get("valid")))
    for label, a in extra:
        rows.append(_audit_row(label, a, a.get("valid")))
    return [
        "Every write of every experiment, in Jepsen's set-checker terms: attempted = "
        "acknowledged + refused (a definite no: the client was told it did not happen) + "
        "indeterminate (no answer it can trust); recovered: indeterminate writes found later; "
        "lost, duplicated and unexpected make a FAILED RUN.",
        "",
        *table(["experiment", *AUDIT_COLUMNS, "verdict"], rows),
    ]


def _audit_row(label: str, audit: dict[str, Any], valid: Any) -> list[str]:
    total = audit.get("total", audit)
    counts = dict(total)
    counts["refused"] = total.get("failed", 0)
    verdict = "valid" if valid or audit.get("valid") else "**FAILED RUN**"
    return [label, *(f"{int(counts.get(c, 0)):,}" for c in AUDIT_COLUMNS), verdict]
