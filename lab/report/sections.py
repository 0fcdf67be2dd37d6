"""The report's sections: their headings and the anchors findings point at (GitHub's slugs of
the headings, so a link works on the repository page)."""

from __future__ import annotations

import re

LATENCY = "Latency per operation"
LOAD = "Latency against offered load and capacity"
LAG = "Visibility lag"
COST = "Cost"
PROFILES = "Where the time goes"
BASELINE = "Against the baseline run"
BLAST = "Blast radius"
RECOVERY = "Recovery and convergence"
AUDIT = "Chaos experiments and audits"
CAUSALITY = "Read-your-writes across services"
METHOD = "Method and environment"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def link(heading: str, text: str | None = None) -> str:
    return f"[{text or heading}](#{slug(heading)})"
