"""The report's sections on measurements beside the comparison: a gray fault's dose-response
(`lab chaos --dose-response`), the bus as a cluster (`lab bench --bus-nodes 1,3`) and the noise
study (`python -m benchmarks.noise`). Each shows its run's figures as the command that measured
them prints them, so the report and the terminal never disagree."""

from __future__ import annotations

from benchmarks.noise.table import load_summary, markdown
from benchmarks.suite.bus_nodes import table as bus_table
from lab.chaos.dose_response import table as dose_table
from lab.report import sections
from lab.report.sources import Run


def code(text: str) -> list[str]:
    return ["```text", *text.rstrip("\n").split("\n"), "```", ""]


def dose_response(run: Run | None) -> list[str]:
    """Per dose and variant, each operation's availability and p99 while the gray fault held."""
    if run is None:
        return []
    return [
        f"## {sections.GRAY}",
        "",
        f"Run `{run.run_id}`: one gray fault at increasing doses, the variants interleaved; "
        "availability and p99 (ms) per operation while the fault held, requests in flight and "
        "the CPU the whole stack used (docs/METHOD.md, Gray faults).",
        "",
        *code(dose_table(run.summary)),
    ]


def bus_cluster(run: Run | None) -> list[str]:
    """R1 on one node against R3 on three: what replicating every event costs."""
    if run is None:
        return []

    return [
        f"## {sections.CLUSTER}",
        "",
        f"Run `{run.run_id}`: async on a bus of one node (streams R1) against three (R3), fresh "
        'stacks, counterbalanced; median [min-max] over runs; "differs" only where the ranges '
        "do not overlap (docs/METHOD.md, Cost: R1 vs R3).",
        "",
        *code(bus_table(run.summary["bus_nodes"]["runs"])),
    ]


def noise(run: Run | None) -> list[str]:
    """The noise study's tables: the p99's spread per variant, and the sources against it."""
    if run is None:
        return []

    text = markdown(load_summary(run.path))
    body = text.split("\n", 2)[2] if text.startswith("# ") else text  # its own title dropped
    body = body.replace("\n## ", "\n### ")  # its headings under this section's
    return [f"## {sections.NOISE}", "", *body.rstrip("\n").split("\n"), ""]
