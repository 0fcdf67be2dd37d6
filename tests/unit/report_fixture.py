"""The committed fixture of `lab report`'s tests: compact copies of small real runs of one clean
commit (tests/fixtures/report/runs/, rebuilt by tests/fixtures/report/refresh.sh), and readers
of what the tests recompute from them. Nothing here knows a run's id or a figure in advance."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "fixtures" / "report" / "runs"


def meta(run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / run_id / "meta.json").read_text())
    return data


def summary(run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / run_id / "summary.json").read_text())
    return data


def run_ids(kind: str | None = None) -> list[str]:
    """The fixture's runs (of one kind), oldest first."""
    found = sorted(p.name for p in RESULTS.iterdir() if (p / "meta.json").is_file())
    return [r for r in found if kind is None or meta(r)["kind"] == kind]


def one(kind: str) -> str:
    (run_id,) = run_ids(kind)
    return run_id


def table_after(text: str, marker: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule left out) of the first Markdown table after
    the line `marker`."""
    lines = text[text.index(marker) + len(marker) :].split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def section(text: str, heading: str) -> str:
    """The text of the section `## heading` (to the next `## `)."""
    body = text[text.index(f"\n## {heading}\n") + len(heading) + 5 :]
    end = body.find("\n## ")
    return body if end < 0 else body[:end]


fixture_summary = summary  # the names a test that has its own `summary` or `one` imports
one_run = one
