"""Unit tests of the `lab` command: its parser, one-line errors and exit codes (no stack runs)."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.cli.main import build_parser, main
from lab.stack.topology import SERVICES

# Every subcommand, with the arguments it requires.
COMMANDS = {
    "up": ["--impl", "sync"],
    "post create": ["--title", "t"],
    "post get": ["p"],
    "comment add": ["p", "c"],
    "comment list": ["p"],
    "view": ["p"],
    "list": [],
    "metrics": ["posts"],
    "dlq list": [],
    "dlq replay": [],
    "rebuild query": [],
    "bench": [],
}


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory: no .lab/ with running stacks, nothing written to the repo."""
    monkeypatch.chdir(tmp_path)


def write_stack(impl: str, address: str) -> Path:
    """A stack.json under .lab/IMPL/ as `lab up` writes it, whose services are at `address`."""
    info: dict[str, object] = {
        "impl": impl,
        "services": {name: [address] for name in SERVICES},
        "databases": {},
        "processes": {},
        "runner_pid": 1,
    }
    path = Path(".lab", impl, "stack.json")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def closed_address() -> Iterator[str]:
    """host:port of a bound socket that does not listen: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_up_replicas() -> None:
    def replicas(*given: str) -> object:
        return build_parser().parse_args(["up", "--impl", "sync", *given]).replicas

    assert replicas() is None  # one of each
    assert replicas("--replicas", "2") == {name: 2 for name in SERVICES}
    assert replicas("--replicas", "posts=2,comments=3") == {"posts": 2, "comments": 3}


@pytest.mark.parametrize(("command", "required"), COMMANDS.items(), ids=list(COMMANDS))
def test_every_subcommand_has_help_and_a_run(
    command: str, required: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert callable(build_parser().parse_args([*command.split(), *required]).run)
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: lab {command} [-h]")


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in {command.split()[0] for command in COMMANDS}:
        assert f"\n    {name} " in out


def test_metrics_offers_the_services(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", "bogus"])
    assert exit_info.value.code == 2
    assert "(choose from 'posts', 'comments', 'moderation', 'query')" in capsys.readouterr().err


# A command line, and how the one line it prints to stderr starts.
CLI_ERRORS = {
    # The rows of issue 29: refused before anything starts.
    "up --impl sync --call-timeout-ms -1": "--call-timeout-ms: must be greater than 0, got -1",
    "up --impl async --causality-wait-ms -3": "--causality-wait-ms: must be greater than or "
    "equal to 0, got -3",
    "up --impl sync --moderation-delay-ms -5": "--moderation-delay-ms: must be greater than or "
    "equal to 0, got -5",
    "up --impl sync --replicas 0": "--replicas: must be greater than or equal to 1, got 0",
    "up --impl sync --replicas posts=0": "--replicas: posts: must be greater than or equal to 1",
    "bench --impl sync --no-sweep --duration 0": "--duration: must be greater than 0, got 0",
    "bench --impl bogus": "--impl: must be one of sync, sync-resilient, async, got bogus",
    "bench --impl sync,async --attach x": "--attach runs against one stack: give one --impl",
    "bench --impl sync --attach x": "--attach: x does not exist",
    "bench --profile nope": "--profile: invalid choice: 'nope' (choose from 'full', 'quick'",
    "bench --scenario nope": "--scenario: must be one of read_heavy, write_heavy, mixed",
    "bench --scenario none,mixed": "--scenario none: alone, not with other scenarios",
    "bench --scenario none --no-sweep": "--scenario none runs the capacity sweep alone: not "
    "with --no-sweep",
    "bench --scenario none --replicas 1,2": "--scenario none: --replicas, several --bus-nodes",
    "bench --rate 0": "--rate: must be greater than 0, got 0",
    # argparse (3.11) gave `--timeout=--` an empty list, which no check saw (a Hypothesis draw).
    "fault kill posts --timeout=--": "--timeout: expected a value, got --",
    "bench --replicas 1,2 --closed-loop": "--replicas starts its own stacks in open loop",
    "up --impl sync --replicas posts=two": "--replicas: posts: must be a valid integer, got two",
    "chaos --impl sync --fault kill-bus": "--fault: the sync implementation has no bus",
    "chaos": "give --fault FAULT[,FAULT...], --matrix (a kill of every component) or --gray-matrix",
    "fault list --timeout 0": "--timeout: must be greater than 0, got 0",
    "compare --before x --after y": "no such run",
    "up": "the following arguments are required: --impl (see `lab up --help`)",
    "dlq replay": "name the dead letters to replay",
    "comment add p c": "no running stack found under .lab/: start one with `lab up --impl sync`",
    "view p --stack nowhere": "nowhere does not exist: is `lab up` running with that data dir?",
    "up --impl sync --prometheus --no-metrics": "--prometheus scrapes the services' /metrics: "
    "not with --no-metrics",
    "bench --impl sync --attach x --no-metrics": "--attach measures the stack as it runs",
    "bench --exposition-cost 1 --no-metrics": "--exposition-cost runs both sides itself",
    "chaos --overload --capacity-source x": "--capacity-source says where a --capacity N came",
}


@pytest.mark.parametrize(("command", "error"), CLI_ERRORS.items(), ids=list(CLI_ERRORS))
def test_cli_errors_are_one_line_and_exit_2(
    command: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        code = main(command.split())  # the CLI's own checks
    except SystemExit as exit_:  # argparse's, each option's value as it is parsed
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    # `lab up` checks its options before it takes over Ctrl-C and SIGTERM.
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {error}")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize(
    "command", ["up --impl sync", "bench --impl sync", "chaos --fault kill:posts"]
)
def test_prometheus_absent_is_one_line_saying_how_to_install_it(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAB_PROMETHEUS", "/nonexistent/prometheus")
    assert main([*command.split(), "--prometheus"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "error: --prometheus: no prometheus binary found; install Debian's package "
        "(`apt-get install -y prometheus`) or set LAB_PROMETHEUS to one\n"
    )
    assert not Path(".lab").exists()  # nothing started, nothing written


def test_bus_commands_refuse_a_sync_stack(capsys: pytest.CaptureFixture[str]) -> None:
    write_stack("sync", "127.0.0.1:1")
    for argv in (["dlq", "list"], ["dlq", "replay", "--all"], ["rebuild", "query"]):
        assert main(argv) == 2
        assert capsys.readouterr().err == (
            "error: this is a sync stack: it has no bus (use an async stack)\n"
        )


def test_several_stacks_need_stack_option(capsys: pytest.CaptureFixture[str]) -> None:
    write_stack("sync", "127.0.0.1:1")
    write_stack("async", "127.0.0.1:1")
    assert main(["view", "p"]) == 2
    assert capsys.readouterr().err == (
        "error: several stacks are running (.lab/async/stack.json, .lab/sync/stack.json); "
        "choose one with --stack\n"
    )


def test_grpc_errors_are_one_line_and_exit_1(
    closed_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack("sync", closed_address)
    assert main(["view", "p", "--timeout", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: UNAVAILABLE: ")
    assert captured.err.count("\n") == 1
