"""Bad input to `lab` is one line and exit code 2, before anything starts: every numeric and
choice option of every command, read from the parser itself (its Bound or choices,
lab/cli/bounds.py), gets values outside what it accepts from hypothesis. An option added later is
covered without touching this file; a command added later must add its arguments to REQUIRED.

In-process (`main(argv)`, with every command's `run` replaced by one that fails the test: a value
that got through would start a stack), and once per command in a subprocess, to show that no
traceback reaches the terminal."""

from __future__ import annotations

import argparse
import functools
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lab.cli.main
from lab.cli.bounds import Bound, Constrained, EachOrAll, OneOrMore, Parsed, number, setting
from lab.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
real_build_parser = lab.cli.main.build_parser

# What each command needs besides the option under test; `{dest}` stands for a positional that
# is tested too (replaced by a valid value when it is not the one under test).
REQUIRED: dict[str, list[str]] = {
    "up": ["--impl", "sync"],
    "post create": ["--title", "t"],
    "post get": ["p"],
    "comment add": ["p", "c"],
    "comment list": ["p"],
    "view": ["p"],
    "list": [],
    "metrics": ["{service}"],
    "dlq list": [],
    "dlq replay": ["{seq}"],
    "rebuild query": [],
    "bench": [],
    "fault list": [],
    "fault kill-db": ["{service}"],
    "fault freeze-db": ["{service}"],
    "fault kill": ["{service}"],
    "fault freeze": ["{service}"],
    "fault kill-bus": [],
    "fault kill-bus-node": ["{role}"],
    "fault freeze-bus-node": ["{role}"],
    "fault slow-db": ["{service}"],
    "fault slow": ["{service}"],
    "fault slow-bus": [],
    "fault partition": ["{part}", "{other}"],
    "fault partition-reset": ["{part}", "{other}"],
    "fault lossy": ["{part}", "{other}"],
    "fault packet-loss": ["{part}", "{other}"],
    "fault restore": ["{target}"],
    "chaos": ["--fault", "kill:posts"],
    "report": [],
    "compare": ["--before", "a", "--after", "b"],
    "trace": ["{source}"],
}
VALID_POSITIONALS = {
    "service": "posts",
    "seq": "1",
    "target": "all",
    "source": ".",
    "role": "leader",
    "part": "posts",
    "other": "db:posts",
}


@dataclass(frozen=True)
class Option:
    """One option (or positional) of one command that accepts only some values."""

    command: str
    action: argparse.Action

    @property
    def name(self) -> str:
        return self.action.option_strings[-1] if self.action.option_strings else self.dest

    @property
    def dest(self) -> str:
        return self.action.dest

    def argv(self, value: str) -> list[str]:
        args = [
            value if a == f"{{{self.dest}}}" else a.format(**VALID_POSITIONALS)
            for a in REQUIRED[self.command]
        ]
        if self.action.option_strings:
            args.append(f"{self.name}={value}")  # `=`: a value like -1e5 is not an option
        return [*self.command.split(), *args]

    def __str__(self) -> str:
        return f"lab {self.command} {self.name}"


def commands(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, Any]]:
    """(command, its parser) for every command that runs something."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}".strip())
    if "run" in parser._defaults:
        yield path, parser


def checked_options() -> list[Option]:
    return [
        Option(command, action)
        for command, parser in commands(real_build_parser())
        for action in parser._actions
        if isinstance(action.type, Bound) or action.choices is not None
        if not isinstance(action, argparse._SubParsersAction)
    ]


OPTIONS = checked_options()


# --- values outside what an option accepts ---------------------------------------------------
def refused(action: argparse.Action, text: str) -> bool:
    """Whether the option's own check refuses `text` (the oracle for random text)."""
    if isinstance(action.type, Bound):
        try:
            value = action.type(text)
        except argparse.ArgumentTypeError:
            return True
        return action.choices is not None and value not in action.choices
    return action.choices is not None and text not in action.choices


def violates(value: float, limits: dict[str, float]) -> bool:
    if math.isnan(value):
        return True
    passes = {
        "gt": value > limits.get("gt", -math.inf),
        "ge": value >= limits.get("ge", -math.inf),
        "lt": value < limits.get("lt", math.inf),
        "le": value <= limits.get("le", math.inf),
    }
    return not all(passes.values())


def outside(bound: Constrained) -> st.SearchStrategy[str]:
    """Numbers beyond the bound's limits, and numbers of the wrong kind (a fraction for an
    integer; inf and nan for a float, which no bound accepts), as text."""
    limits = bound.limits
    numbers: list[st.SearchStrategy[str]] = []
    if bound.annotation is int:
        if limits:
            numbers.append(st.integers().filter(lambda v: violates(v, limits)).map(str))
        # A float's text with a digit appended: a fraction or an exponent, never an integer.
        numbers.append(st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v}5"))
    elif bound.annotation is float:
        if limits:
            floats = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)
            numbers.append(floats.filter(lambda v: violates(v, limits)).map(repr))
        numbers.append(st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400", "NaN"]))
    return st.one_of(numbers) if numbers else st.nothing()


WORDS = st.sampled_from(["", " ", ",", ",,", "x", "none", "-", "=", "posts=", "=1", "0x10"])


def candidates(action: argparse.Action) -> st.SearchStrategy[str]:
    """Text likely to be refused: anything, words that look almost right, and what the bound
    names (a number beyond its limits, a bad item in a list)."""
    kind = action.type
    options = [st.text(max_size=20), WORDS]
    if isinstance(kind, Constrained):
        options.append(outside(kind))
    if isinstance(kind, OneOrMore) and isinstance(kind.item, Constrained):
        options.append(st.lists(outside(kind.item), min_size=1, max_size=3).map(",".join))
    if isinstance(kind, OneOrMore) and isinstance(kind.item, tuple):
        known = st.sampled_from(kind.item)
        options.append(st.tuples(known, st.text(max_size=8)).map(",".join))
    if isinstance(kind, EachOrAll) and isinstance(kind.item, Constrained):
        bad = outside(kind.item)
        options.append(bad)
        options.append(st.tuples(st.sampled_from(kind.names), bad).map("=".join))
        options.append(st.tuples(st.text(max_size=8), st.just("1")).map("=".join))
    if action.choices is not None:
        options.append(st.sampled_from([str(c) for c in action.choices]).map(lambda c: c + "x"))
    return st.one_of(options)


# --- the property ----------------------------------------------------------------------------
def must_not_run(args: argparse.Namespace) -> int:
    raise AssertionError(f"the command would run with {vars(args)}")


@functools.cache  # built once: argparse parses with the same parser again and again
def parser_that_runs_nothing() -> argparse.ArgumentParser:
    parser = real_build_parser()
    for _, sub in commands(parser):
        sub._defaults["run"] = must_not_run
    return parser


@pytest.fixture(scope="module", autouse=True)
def _runs_nothing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No command runs (a value that passed would start a stack), from an empty directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lab.cli.main, "build_parser", parser_that_runs_nothing)
        patch.chdir(tmp_path_factory.mktemp("cli-bounds"))
        yield


def answer(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    """The exit code and stderr of `lab ARGV`."""
    try:
        code: int | str | None = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def test_every_command_that_runs_is_listed() -> None:
    assert sorted(name for name, _ in commands(real_build_parser())) == sorted(REQUIRED)


def test_every_numeric_option_declares_its_bound() -> None:
    """A numeric option says what it accepts (lab/cli/bounds.py), never a bare int or float."""
    bare = [
        f"lab {command} {action.option_strings or action.dest}"
        for command, parser in commands(real_build_parser())
        for action in parser._actions
        if action.type in (int, float)
    ]
    assert bare == []


def test_the_lab_commands_options_are_all_covered() -> None:
    """The issue's commands, with the options it named, are among those generated."""
    names = {str(option) for option in OPTIONS}
    for expected in (
        "lab up --call-timeout-ms",
        "lab up --causality-wait-ms",
        "lab up --moderation-delay-ms",
        "lab up --replicas",
        "lab up --impl",
        "lab bench --duration",
        "lab bench --rate",
        "lab bench --replicas",
        "lab bench --profile",
        "lab chaos --fault",
        "lab chaos --profile",
        "lab fault kill-db service",
        "lab fault list --timeout",
    ):
        assert expected in names


@pytest.mark.parametrize("option", OPTIONS, ids=str)
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_a_value_outside_an_option_gets_one_line_and_exit_2(
    option: Option, data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    value = data.draw(candidates(option.action).filter(lambda t: refused(option.action, t)))
    code, err = answer(option.argv(value), capsys)
    assert code == 2, (option.argv(value), err)
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert err.startswith("error: ") and "Traceback" not in err, err
    if option.action.option_strings or not value.startswith("-"):
        assert option.name in err, err  # names the option (a "-x" positional reads as an option)


def numeric(option: Option) -> Constrained | None:
    """The numeric Bound of an option, or of each item of a list option."""
    kind = option.action.type
    item = kind.item if isinstance(kind, OneOrMore | EachOrAll) else kind
    return item if isinstance(item, Constrained) and item.annotation in (int, float) else None


NUMERIC = [option for option in OPTIONS if numeric(option)]


@pytest.mark.parametrize("option", NUMERIC, ids=str)
@settings(max_examples=20, deadline=None, database=None)
@given(data=st.data())
def test_numbers_beyond_a_bound_are_refused(option: Option, data: st.DataObject) -> None:
    """Not from the oracle: a number the limits exclude is refused by the Bound itself."""
    bound = numeric(option)
    assert bound is not None
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be .*, got "):
        bound(data.draw(outside(bound)))


# --- the bounds themselves -------------------------------------------------------------------
def test_a_setting_is_checked_against_the_services_own_field() -> None:
    from blog.rpc.settings import ServiceSettings

    bound = setting("call_timeout_ms")
    assert bound.limits == {"gt": 0}
    assert bound.limits == {"gt": ServiceSettings.model_fields["call_timeout_ms"].metadata[0].gt}
    assert bound("250") == 250 and bound.allowed == "an integer > 0"
    with pytest.raises(argparse.ArgumentTypeError, match="^must be greater than 0, got -1$"):
        bound("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="^must be a finite number, got inf$"):
        setting("causality_wait_ms")("inf")
    with pytest.raises(KeyError):
        _ = setting("no_such_setting").limits


def test_harness_numbers_lists_and_per_service_counts() -> None:
    assert number(float, gt=0)("2.5") == 2.5
    assert number(float, ge=0, le=1).allowed == "a number >= 0 and <= 1"
    with pytest.raises(argparse.ArgumentTypeError, match="^must be less than or equal to 1"):
        number(float, ge=0, le=1)("1.5")
    with pytest.raises(TypeError, match="unknown limits"):
        number(int, min=1)
    impls = OneOrMore(("sync", "async"))
    assert impls(" sync, async ,") == ["sync", "async"]
    with pytest.raises(argparse.ArgumentTypeError, match="^must be one of sync, async, got x$"):
        impls("sync,x")
    replicas = EachOrAll(("posts", "query"), number(int, ge=1))
    assert replicas("2") == {"posts": 2, "query": 2}
    assert replicas("query=3") == {"query": 3}
    with pytest.raises(argparse.ArgumentTypeError, match="^posts: must be greater than or equal"):
        replicas("posts=0")
    with pytest.raises(argparse.ArgumentTypeError, match="NAME one of posts, query, got x=1$"):
        replicas("x=1")


def test_parsed_text_refuses_with_the_parsers_own_words() -> None:
    def even(text: str) -> int:
        if int(text) % 2:
            raise ValueError(f"{text} is odd")
        return int(text)

    assert Parsed(even, "an even number")("4") == 4
    with pytest.raises(argparse.ArgumentTypeError, match="^3 is odd$"):
        Parsed(even, "an even number")("3")


def test_help_shows_each_options_bound(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "deadline of each service-to-service call (default 1000) [an integer > 0]" in help_text


# --- in a real process: one line, no traceback -----------------------------------------------
SUBPROCESS = {
    "up": ["lab", "up", "--impl", "sync", "--call-timeout-ms", "-1"],
    "bench": ["lab", "bench", "--impl", "sync", "--no-sweep", "--duration", "0"],
    "chaos": ["lab", "chaos", "--fault", "kill-db:nowhere"],
    "fault": ["lab", "fault", "kill-db", "comments", "--timeout", "-1"],
    "compare": ["lab", "compare", "--before", "nosuchrun", "--after", "nosuchrun"],
    "service": [sys.executable, "-m", "sync_impl.posts", "--call-timeout-ms", "-1"],
    "service env": [sys.executable, "-m", "async_impl.comments"],  # LAB_CAUSALITY=maybe
}


@pytest.mark.parametrize("argv", SUBPROCESS.values(), ids=list(SUBPROCESS))
def test_no_traceback_reaches_the_terminal(argv: list[str], tmp_path: Path) -> None:
    if argv[0] == "lab":
        argv = [str(Path(sys.executable).parent / "lab"), *argv[1:]]
    env = {"PATH": "/usr/bin:/bin", "LAB_CAUSALITY": "maybe", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
