"""`lab report`'s numbers against the raw runs they come from, and its sentences against its own
tables, on the committed fixture of real runs (tests/unit/report_fixture.py): each latency cell
is the median [min–max] of the repetitions' own figures, and no finding says what its table
does not show."""

from __future__ import annotations

import re
from pathlib import Path
from statistics import median

import pytest

from lab.report import fmt
from lab.report.build import build
from lab.report.evidence import main_label
from lab.report.sections import BLAST, FINDINGS, LATENCY
from lab.report.sources import ReportError, select
from tests.unit.report_fixture import RESULTS, one, section, summary, table_after

PERCENTILE_COLUMNS = {"p50_ms": 2, "p90_ms": 3, "p99_ms": 4}


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "REPORT.md"
    build(select(RESULTS), out)
    return out.read_text()


def latency_rows(text: str) -> tuple[str, list[list[str]]]:
    doc = summary(one("bench"))
    label = main_label(doc)
    assert label is not None
    return label, table_after(section(text, LATENCY), f"(`{label}`)")


def test_each_latency_cell_is_the_median_and_range_of_the_repetitions(text: str) -> None:
    label, rows = latency_rows(text)
    reps = summary(one("bench"))["reps"]
    checked = 0
    for row in rows:
        op, impl = row[0], row[1]
        if impl == "*lowest*":
            continue
        for pct, column in PERCENTILE_COLUMNS.items():
            values = [
                rep["impls"][impl]["runs"][label]["operations"][op]["latency_ms"][pct]
                for rep in reps
                if label in rep["impls"][impl]["runs"]
            ]
            recomputed = {
                "median": median(values),
                "min": min(values),
                "max": max(values),
                "n": len(values),
            }
            assert row[column] == fmt.spread(recomputed), (op, impl, pct)
            checked += 1
    assert checked >= 12


def lowest_by_operation(rows: list[list[str]], column: int) -> dict[str, str]:
    """The table's *lowest* row per operation: a variant, "~" or "n/a"."""
    return {r[0]: r[column].removesuffix(" ✓") for r in rows if r[1] == "*lowest*"}


def test_no_latency_finding_contradicts_the_tables_lowest_row(text: str) -> None:
    _, rows = latency_rows(text)
    findings = section(text, FINDINGS)
    for name, column in (("p50", 2), ("p99", 4)):
        (sentence,) = re.findall(rf"^- At .*?, the lowest {name}: (.*?)\. \(", findings, re.M)
        table = lowest_by_operation(rows, column)
        said: dict[str, str] = {}
        for part in sentence.split("; "):
            if part.startswith("no significant difference on "):
                ops, verdict = part.removeprefix("no significant difference on "), "~"
            elif part == "no variant beyond the spread":
                continue
            else:
                verdict, ops = part.split(" on ", 1)
            for op in re.split(r", | and ", ops):
                said[op] = verdict
        for op, verdict in table.items():
            if verdict == "n/a":
                assert op not in said
            else:
                assert said.get(op) == verdict, (name, op, sentence)
        assert set(said) <= set(table)


def test_what_stayed_up_while_a_database_was_down_is_what_the_blast_table_shows(
    text: str,
) -> None:
    blast = section(text, BLAST)
    findings = section(text, FINDINGS)
    sentences = re.findall(r"^- While (kill-db:\w+) held: (.*?)\. \(", findings, re.M)
    assert sentences
    slo = 50.0
    for fault, said in sentences:
        rows = table_after(blast, f"**{fault}**")
        header_impls = [s.split(": ")[0] for s in said.split("; ")]
        for part in said.split("; "):
            impl, ops_text = part.split(": ")
            ops = (
                set()
                if ops_text == "nothing up"
                else set(re.split(r", | and ", ops_text.removesuffix(" up")))
            )
            column = 1 + header_impls.index(impl)
            for row in rows:
                cell = row[column]
                if cell in ("-", "n/a"):
                    assert row[0] not in ops
                    continue
                availability = float(cell.split(" %")[0])
                p99_text = cell.split(" · ")[1]
                p99 = None if p99_text == "-" else float(p99_text.removesuffix(" ms"))
                up = availability >= 99 and "*" not in cell and (p99 is None or p99 <= slo)
                assert (row[0] in ops) == up, (fault, impl, row)


def test_no_runs_at_all_is_said(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no run a report reads"):
        select(tmp_path)
