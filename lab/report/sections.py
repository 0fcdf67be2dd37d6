"""The report's sections: their headings and the anchors findings point at (GitHub's slugs of
the headings, so a link works on the repository page)."""

from __future__ import annotations

import re

ANSWER = "The answer"
LIMITS = "Limits of these numbers"
FINDINGS = "Findings"
LATENCY = "Latency at equal load"
CAPACITY = "Capacity and load curves"
COST = "Cost"
BLAST = "Blast radius"
RECOVERY = "Recovery and convergence"
OVERLOAD = "Overload and recovery"
LAG = "Visibility lag"
CAUSALITY = "Read-your-writes across services"
AUDIT = "Audits"
HOPS = "Where each millisecond goes"
GRAY = "Gray faults: dose and response"
CLUSTER = "The bus as a cluster"
NOISE = "Where the noise comes from"
GLOSSARY = "Glossary"
METHOD = "Runs, machine and provenance"
BASELINE = "Against the baseline run"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def link(heading: str, text: str | None = None) -> str:
    return f"[{text or heading}](#{slug(heading)})"
