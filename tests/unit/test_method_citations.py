"""Every "docs/METHOD.md, <section>" the repository cites names a section the method has: code
and docs cite the method doc by its headings, and a citation of a section never written (or
renamed since) fails here."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METHOD = ROOT / "docs" / "METHOD.md"
SELF = "tests/unit/test_method_citations.py"  # its examples are not citations
CITING = ["*.py", "*.md", "*.sh", "*.yml", "*.yaml", "*.toml", "Makefile"]


def headings() -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{2,3} (.+)$", METHOD.read_text(), re.M)]


def citations(text: str) -> Iterator[str]:
    """The section names after "METHOD.md, " (a citation may wrap over comment lines; a comment
    after code on its line ends there)."""
    flat = " ".join(_continued(line.strip()) for line in text.splitlines())
    for found in re.finditer(r"METHOD\.md, ([A-Z][^)\]:;,.\"`]*)", flat):
        yield found.group(1).strip()


def _continued(line: str) -> str:
    if "#" in line and not line.startswith("#"):
        return line + "."  # `code  # comment`: the comment ends with its line
    return line.lstrip("#").strip()


def names_a_section(cited: str, sections: list[str]) -> bool:
    """A heading, a heading's start ("Causality" for "Causality across services"), or two of
    them joined by "and" ("Load and Latency")."""

    def one(name: str) -> bool:
        return any(h.startswith(name) for h in sections)

    return one(cited) or all(one(part) for part in cited.split(" and "))


def test_the_rule_accepts_sections_and_refuses_others() -> None:
    sections = ["Load", "Latency", "Causality across services", "Coupling and failure isolation"]
    for cited in ("Load", "Causality", "Load and Latency", "Coupling and failure isolation"):
        assert names_a_section(cited, sections), cited
    for cited in ("Overload", "Load and Overload", "Lag"):
        assert not names_a_section(cited, sections), cited
    assert list(citations("see (docs/METHOD.md, Where\n    # the time goes): x")) == [
        "Where the time goes"
    ]
    assert list(citations("x = 1  # docs/METHOD.md, Noise\n# Before anything")) == ["Noise"]


def test_every_citation_of_the_method_names_one_of_its_sections() -> None:
    sections = headings()
    listed = subprocess.run(
        ["git", "ls-files", *CITING], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    unknown = [
        (name, cited)
        for name in listed
        if not name.startswith("tests/fixtures/") and name != SELF and (ROOT / name).is_file()
        for cited in citations((ROOT / name).read_text(errors="replace"))
        if not names_a_section(cited, sections)
    ]
    assert listed and sections
    assert not unknown, f"citations of sections docs/METHOD.md does not have: {unknown}"
