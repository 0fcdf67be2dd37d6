"""The hook for "Read-your-writes across services": a causality comparison run (`lab bench
--causality refuse,wait,accept`: meta.json's kind "causality", or a summary.json with a
"causality" key) rendered generically, one table row per variant or row of the run, until its
format settles; and, when the run has them, a table of the variants under load
("mixed_aggregate") and one of the variants under faults ("faults_aggregate", a row per fault
and variant). Without such a run the report has no such section (causality_section returns
nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.report import fmt, sections
from lab.report.sources import Run
from lab.report.tables import table


def rows_of(causality: Any) -> list[dict[str, Any]]:
    """The rows, whatever the shape: a list of objects, {"rows": [...]}, or name -> object
    (the name becomes the first column)."""
    if isinstance(causality, list):
        return [r if isinstance(r, dict) else {"value": r} for r in causality]
    if isinstance(causality, Mapping):
        if isinstance(causality.get("rows"), list):
            return rows_of(causality["rows"])
        return [
            {"variant": name, **(v if isinstance(v, Mapping) else {"value": v})}
            for name, v in causality.items()
        ]
    return []


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A "causality" key's rows; else (`lab bench --causality`'s summary) one row per variant
    of its "aggregate", with the number of runs behind it."""
    if "causality" in summary:
        return rows_of(summary["causality"])
    runs = summary.get("runs") or {}
    return [
        {"variant": name, "runs": len(runs.get(name) or []), **figures}
        for name, figures in (summary.get("aggregate") or {}).items()
        if isinstance(figures, Mapping)
    ]


def mixed_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variants under load: one row per variant of "mixed_aggregate", with its runs."""
    runs = summary.get("mixed") or {}
    return [
        {"variant": name, "runs": len(runs.get(name) or []), **figures}
        for name, figures in (summary.get("mixed_aggregate") or {}).items()
        if isinstance(figures, Mapping)
    ]


def fault_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variants under faults: one row per fault and variant of "faults_aggregate"."""
    return [
        {"fault": fault, "variant": name, **figures}
        for fault, by_variant in (summary.get("faults_aggregate") or {}).items()
        if isinstance(by_variant, Mapping)
        for name, figures in by_variant.items()
        if isinstance(figures, Mapping)
    ]


UNDER_LOAD = (
    "Under load: each variant's stack, after the probe, under the scenario's measured Locust "
    "run in open loop (refusals: CreateComment answered NOT_FOUND per 1,000 CreateComment; "
    "CreateComment from the scheduled start; the status lag is the query service's, from a "
    "comment's creation to its final status in the view)."
)
UNDER_FAULTS = (
    "Under faults: one chaos experiment per variant, fault and run. CreateComment requests "
    "scheduled during the fault: the share answered OK and NOT_FOUND per 1,000 (and from the "
    "restore on); recovery: restore to CreateComment back at >= 99 %; convergence: restore to "
    "a complete read model (async); acknowledged, indeterminate and lost comments from the "
    "audit, summed over the runs; rejected_unknown_post: comments `accept` held past its bound."
)


def _rows_table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return table(columns, [[cell(r.get(c)) for c in columns] for r in rows])


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return fmt.num(float(value)) if isinstance(value, float) else f"{value:,}"
    if isinstance(value, Mapping):
        if {"median", "min", "max"} <= value.keys():  # a spread over repetitions
            if value["median"] is None:
                return "-"
            return fmt.spread({"n": value.get("n", 2), **value})
        return ", ".join(f"{k} {cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return str(value)


def causality_section(run: Run | None) -> list[str]:
    """The section's Markdown lines; empty when there is no causality run."""
    if run is None or run.kind != "causality":
        return []
    rows = summary_rows(run.summary)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = [
        f"## {sections.CAUSALITY}",
        "",
        f"From run `{run.run_id}`, as it wrote them; a cell with a range is the median "
        "[min–max] over the variant's runs.",
        "",
    ]
    if not rows:
        return out + ["The run holds no rows.", ""]
    out += table(columns, [[cell(r.get(c)) for c in columns] for r in rows])
    for caption, extra in (
        (UNDER_LOAD, mixed_rows(run.summary)),
        (UNDER_FAULTS, fault_rows(run.summary)),
    ):
        if extra:
            out += [caption, "", *_rows_table(extra)]
    return out
