"""`lab report` end to end on the committed fixture (real runs, tests/unit/report_fixture.py):
the answer on the first screen, every link resolving, the same runs giving the same bytes, a
missing raw file said rather than crashed on, provenance enforced, a lost write a FAILED RUN,
and the CLI's errors in one line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.report.build import FIGURES_DIR, build
from lab.report.sections import ANSWER, AUDIT, FINDINGS, LIMITS, slug
from lab.report.sources import ReportError, select
from tests.unit.report_fixture import RESULTS, one, run_ids


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's report, written once for the module: out/a/REPORT.md."""
    out = tmp_path_factory.mktemp("report") / "a"
    build(select(RESULTS), out / "REPORT.md")
    return out


def contents(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def test_the_answer_comes_first_then_its_limits_then_the_findings(built: Path) -> None:
    text = (built / "REPORT.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[:3] == [ANSWER, LIMITS, FINDINGS]
    first_screen = text.split(f"## {LIMITS}")[0]
    # Each variant measured gets its own block of figures, and a choice is said in bold.
    for impl in select(RESULTS).bench.summary["aggregate"]:  # type: ignore[union-attr]
        assert f"**{impl}**" in first_screen
    assert "Choose **" in first_screen or "does not separate" in first_screen


def test_every_link_resolves_and_every_figure_drawn_is_linked(built: Path) -> None:
    text = (built / "REPORT.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    figures = [t for t in targets if t.endswith(".png")]
    assert figures
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in anchors, target
        elif not target.startswith("http"):
            assert (built / target).exists(), target
    on_disk = {p.name for p in (built / FIGURES_DIR).glob("*.png")}
    assert on_disk == {Path(f).name for f in figures}


def test_the_same_runs_give_the_same_bytes(built: Path) -> None:
    first = contents(built)
    again = built.parent / "b"  # the same depth, so relative links are the same too
    build(select(RESULTS), again / "REPORT.md")
    assert contents(again) == first
    build(select(RESULTS), built / "REPORT.md")  # over the old one
    assert contents(built) == first


def test_the_report_names_every_run_and_its_commit(built: Path) -> None:
    text = (built / "REPORT.md").read_text()
    for run_id in run_ids():
        assert f"`{run_id}`" in text
        commit = json.loads((RESULTS / run_id / "meta.json").read_text())["machine"]
        assert commit["git_commit"][:12] in text


def test_missing_raw_files_are_said_not_crashed_on(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for run_id in run_ids():  # summaries and meta only: no histograms, no timelines
        (results / run_id).mkdir(parents=True)
        for name in ("meta.json", "summary.json"):
            shutil.copy(RESULTS / run_id / name, results / run_id / name)
    build(select(results), tmp_path / "REPORT.md")
    text = (tmp_path / "REPORT.md").read_text()
    assert "*Figure not drawn (" in text


def test_a_lost_write_makes_a_failed_run_said_first(tmp_path: Path) -> None:
    chaos = one("chaos")
    results = tmp_path / "results"
    shutil.copytree(RESULTS / chaos, results / chaos)
    path = results / chaos / "summary.json"
    doc = json.loads(path.read_text())
    experiment = doc["experiments"][0]
    experiment["audit"]["total"]["lost"] = 1  # as the audit writes one acknowledged, not found
    path.write_text(json.dumps(doc))
    build(select(results, [chaos]), tmp_path / "REPORT.md")
    text = (tmp_path / "REPORT.md").read_text()
    findings = text.split(f"## {FINDINGS}")[1]
    first = findings.strip().split("\n")[0]
    assert first.startswith("- **FAILED RUN") and experiment["impl"] in first
    assert f"#{slug(AUDIT)}" in first


def test_default_selection_is_the_newest_of_each_kind() -> None:
    runs = select(RESULTS)
    for run in runs.all():
        same_kind = run_ids(run.kind)
        assert run.run_id == max(
            same_kind,
            key=lambda r: json.loads((RESULTS / r / "meta.json").read_text())["started_at"],
        )


def test_runs_of_a_dirty_tree_or_of_two_commits_are_refused_unless_allowed(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    bench = one("bench")
    meta_path = results / bench / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["machine"]["git_dirty"] = True
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ReportError, match="measured a dirty tree"):
        select(results)
    runs = select(results, allow_mixed=True)
    build(runs, tmp_path / "REPORT.md")
    first_screen = (tmp_path / "REPORT.md").read_text().split(f"## {LIMITS}")[0]
    assert "dirty tree" in first_screen  # what --allow-mixed let through, said up front


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "REPORT.md"
    chaos = one("chaos")
    code = main(["report", chaos, "--results-dir", str(RESULTS), "--out", str(out)])
    assert code == 0
    assert out.is_file() and (tmp_path / FIGURES_DIR / "blast-radius.png").is_file()
    assert f"chaos {chaos}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "error: no such run: "),
        ("no-repetitions", "is a benchmark run without repetitions"),
        ("unfinished", "has no readable summary.json"),
        ("empty", "error: no run a report reads under "),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    run = results / "20260101T000000Z"
    meta = {"run_id": run.name, "kind": "chaos", "started_at": "2026-01-01T00:00:00+00:00"}
    if setup == "no-repetitions":  # the format before repetitions
        run.mkdir()
        (run / "meta.json").write_text(json.dumps({**meta, "kind": "bench"}))
        (run / "summary.json").write_text(json.dumps({"run_id": run.name, "impls": {}}))
    if setup == "unfinished":
        run.mkdir()
        (run / "meta.json").write_text(json.dumps(meta))
    args = ["report", "--results-dir", str(results), "--out", str(tmp_path / "R.md")]
    code = main(args if setup == "empty" else [*args, run.name])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "R.md").exists()
