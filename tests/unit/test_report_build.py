"""`lab report` end to end on the committed fixture: every link of REPORT.md resolves (figures,
the method doc, the anchors of the findings), the same runs give the same bytes, a missing raw
file is said rather than crashed on, and the CLI's errors are one line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.report.build import FIGURES_DIR, build
from lab.report.policies import causality_section
from lab.report.sections import slug
from lab.report.sources import kind_of, select

RESULTS = Path(__file__).resolve().parent.parent / "fixtures" / "report" / "runs"
RUN_IDS = ["20260101T000000Z", "20260101T010000Z", "20260101T020000Z", "20260101T030000Z"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's report, written once for the module: out/a/REPORT.md."""
    out = tmp_path_factory.mktemp("report") / "a"
    build(select(RESULTS, RUN_IDS), out / "REPORT.md")
    return out


def contents(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def test_every_link_resolves(built: Path) -> None:
    text = (built / "REPORT.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    figures = [t for t in targets if t.endswith(".png")]
    assert len(figures) >= 6
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in anchors, target
        else:
            assert (built / target).is_file(), target
    on_disk = {p.name for p in (built / FIGURES_DIR).glob("*.png")}
    assert on_disk == {Path(f).name for f in figures}  # nothing drawn that is not linked


def test_the_same_runs_give_the_same_bytes(built: Path) -> None:
    first = contents(built)
    again = built.parent / "b"  # the same depth, so relative links are the same too
    build(select(RESULTS, RUN_IDS), again / "REPORT.md")
    assert contents(again) == first
    build(select(RESULTS, RUN_IDS), built / "REPORT.md")  # over the old one
    assert contents(built) == first


def test_the_report_leads_with_findings_and_names_its_runs(built: Path) -> None:
    text = (built / "REPORT.md").read_text()
    assert text.index("## Findings") < text.index("## Latency per operation")
    assert "**FAILED RUN: chaos run 20260101T020000Z" in text
    for run_id in RUN_IDS:
        assert f"`{run_id}`" in text
    assert "## Read-your-writes across services" in text
    assert "| async-refuse | 3 | 12.0 | 4.20 [3.78–5.04] | 14.0 |" in text
    assert "rep 3: high steal (7.5%)" in text  # flagged, kept
    assert "| comments-0 | `execute (asyncpg/connection.py)` | 12 % |" in text
    assert "query-0 (`query-0.svg`, not found)" in text  # the one flame graph not there
    assert "- not profiled: moderation-0: py-spy failed" in text


def test_the_causality_section_has_the_variants_under_load_and_under_faults() -> None:
    text = "\n".join(causality_section(select(RESULTS, RUN_IDS).causality))
    assert text.index("Under load:") < text.index("Under faults:")
    assert "| async-wait | 3 | 0 | 1.53 [1.50–1.57] | 4.60 [4.50–4.70] |" in text
    assert "| kill-bus | async-refuse | 3 | 3 | 62.5 | 375 | 0 | - |" in text
    assert "| kill-db:comments | sync | 3 | 3 | 0 | 0 | 0 | - | 0.700 [0.600–0.800] | - |" in text


def test_without_a_causality_run_there_is_no_such_section() -> None:
    assert causality_section(None) == []
    assert causality_section(select(RESULTS, RUN_IDS[:1]).bench) == []


def test_missing_raw_files_are_said_not_crashed_on(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for run_id in RUN_IDS[:2]:  # summaries and meta only: no histograms, no timelines
        (results / run_id).mkdir(parents=True)
        for name in ("meta.json", "summary.json"):
            shutil.copy(RESULTS / run_id / name, results / run_id / name)
    build(select(results), tmp_path / "REPORT.md")
    text = (tmp_path / "REPORT.md").read_text()
    assert "*Figure not drawn (Latency percentile spectrum" in text
    assert "no timeline file for kill-bus" in text


def test_default_selection_is_the_newest_of_each_kind() -> None:
    runs = select(RESULTS)
    assert runs.bench is not None and runs.bench.run_id == "20260101T000000Z"
    assert [r.run_id for r in runs.chaos] == ["20260101T020000Z"]
    assert runs.causality is not None and runs.causality.run_id == "20260101T030000Z"


def test_what_kind_of_run() -> None:
    assert kind_of({"kind": "bench"}, {"reps": []}) == "bench"
    assert kind_of({}, {"reps": []}) == "bench"  # written before meta.json had a kind
    assert kind_of({"kind": "bench"}, {"impls": {}}) is None  # the format before repetitions
    assert kind_of({"kind": "chaos"}, {"experiments": []}) == "chaos"
    assert kind_of({"kind": "bench"}, {"causality": {}}) == "causality"
    assert kind_of({}, {"replicas": {}}) is None


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "REPORT.md"
    code = main(["report", RUN_IDS[1], "--results-dir", str(RESULTS), "--out", str(out)])
    assert code == 0
    assert out.is_file() and (tmp_path / FIGURES_DIR / "blast-radius.png").is_file()
    assert "chaos 20260101T010000Z" in capsys.readouterr().out


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "error: no such run: "),
        ("old-format", "is not a benchmark run with repetitions, a chaos run or a causality run"),
        ("unfinished", "has no readable summary.json"),
        ("empty", "error: no benchmark, chaos or causality run under "),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    run = results / "20260101T000000Z"
    if setup == "old-format":
        run.mkdir()
        (run / "meta.json").write_text(json.dumps({"run_id": run.name}))
        (run / "summary.json").write_text(json.dumps({"run_id": run.name, "impls": {}}))
    if setup == "unfinished":
        run.mkdir()
        (run / "meta.json").write_text(json.dumps({"run_id": run.name, "kind": "chaos"}))
    args = ["report", "--results-dir", str(results), "--out", str(tmp_path / "R.md")]
    code = main(args if setup == "empty" else [*args, run.name])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "R.md").exists()
