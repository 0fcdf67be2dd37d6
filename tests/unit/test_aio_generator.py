"""The asyncio generator's command line (its run against real stacks is the overload
experiment's, tests/integration/test_overload.py): bad input is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.load.aio_generator import parse


def args(tmp_path: Path, *extra: str) -> list[str]:
    stack, seed = tmp_path / "stack.json", tmp_path / "seed.json"
    stack.write_text('{"services": {}}')
    seed.write_text('["p1"]')
    base = ["--stack", str(stack), "--seed-file", str(seed), "--request-log", str(tmp_path)]
    return base + ["--rate", "10", "--max-s", "5", *extra]


def test_a_process_s_share_of_the_rate_file_is_taken(tmp_path: Path) -> None:
    options = parse(args(tmp_path, "--share", "0.5", "--rate-file", str(tmp_path / "rate")))
    assert (options.rate, options.share, options.scenario) == (10.0, 0.5, "chaos")
    assert options.rate_file == tmp_path / "rate"


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--share", "0"], "0 < --share <= 1"),
        (["--max-s", "0"], "--max-s > 0"),
        (["--scenario", "read_your_writes"], "invalid choice"),  # not one call per operation
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(args(tmp_path, *extra))
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_a_missing_stack_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    given = args(tmp_path)
    given[1] = str(tmp_path / "nowhere.json")
    with pytest.raises(SystemExit):
        parse(given)
    err = capsys.readouterr().err
    assert "no such file" in err and "nowhere.json" in err
