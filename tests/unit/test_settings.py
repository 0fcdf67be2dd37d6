"""Unit tests of service settings: from flags and the environment, failing fast (one line, exit
code 2) when missing or out of their bounds."""

from __future__ import annotations

import pytest

from blog.rpc.process import implementation, run
from blog.rpc.settings import BadSettings, load_settings


def test_settings_from_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_DSN", "postgresql+asyncpg://u:p@127.0.0.1:1/d")
    settings = load_settings("x", ["--call-timeout-ms", "250", "--blocklist", "a,b"])
    assert settings.call_timeout_ms == 250
    assert settings.dsn.endswith("/d")
    assert settings.moderator().blocklist == ("a", "b")


def test_missing_settings_fail_fast_naming_them() -> None:
    settings = load_settings("x", [])
    with pytest.raises(BadSettings, match="--posts-addr"):
        settings.require("dsn", "posts_addr")


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (
            ["--call-timeout-ms", "-1"],
            {},
            "--call-timeout-ms (or LAB_CALL_TIMEOUT_MS): must be greater than 0, got -1",
        ),
        (
            [],
            {"LAB_CAUSALITY_WAIT_MS": "-3"},
            "--causality-wait-ms (or LAB_CAUSALITY_WAIT_MS): must be greater than or equal to 0, "
            "got -3",
        ),
        (
            ["--moderation-delay-ms", "inf"],
            {},
            "--moderation-delay-ms (or LAB_MODERATION_DELAY_MS): must be a finite number, got inf",
        ),
        (
            ["--causality", "maybe"],
            {},
            "--causality (or LAB_CAUSALITY): must be 'refuse', 'wait' or 'accept', got maybe",
        ),
        (["--bogus", "1"], {}, "unrecognized arguments: --bogus 1"),
        (["--call-timeout-ms"], {}, "--call-timeout-ms: expected one argument"),
    ],
)
def test_a_setting_out_of_its_bound_is_one_line(
    argv: list[str], env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(BadSettings) as refused:
        load_settings("x", argv)
    assert str(refused.value) == line


def test_a_service_refuses_bad_settings_in_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def never(*_: object) -> None:
        raise AssertionError("assembled with a bad setting")

    with pytest.raises(SystemExit) as exit_info:
        run("x", "posts", ["dsn"], never, ["--dsn", "postgresql://h/d", "--db-pool-size", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: --db-pool-size (or LAB_DB_POOL_SIZE): must be greater than 0, got 0\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        run("x", "posts", ["dsn"], never, [])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: missing required setting(s): --dsn (or LAB_DSN)\n"


def test_tracing_is_off_by_default_and_a_share_needs_a_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings("x", []).trace_sample == 0
    monkeypatch.setenv("LAB_TRACE_SAMPLE", "0.05")
    settings = load_settings("x", [])
    assert settings.trace_sample == 0.05
    with pytest.raises(BadSettings, match="LAB_TRACE_DIR"):
        settings.require_trace_dir()
    monkeypatch.setenv("LAB_TRACE_DIR", "/tmp/traces")
    load_settings("x", []).require_trace_dir()


def test_stack_options_give_the_services_the_trace_settings() -> None:
    from pathlib import Path

    from lab.stack.config import StackOptions

    env = StackOptions(trace_sample=0.5, trace_dir=Path("/tmp/t")).service_env()
    assert (env["LAB_TRACE_SAMPLE"], env["LAB_TRACE_DIR"]) == ("0.5", "/tmp/t")
    assert "LAB_TRACE_SAMPLE" not in StackOptions().service_env()


@pytest.mark.parametrize(
    ("prog", "resilience", "impl"),
    [
        ("sync-comments", "0", "sync"),
        ("sync-query", "1", "sync-resilient"),
        ("async-comments", "0", "async"),
    ],
)
def test_a_process_labels_its_spans_with_the_topologys_implementation(
    monkeypatch: pytest.MonkeyPatch, prog: str, resilience: str, impl: str
) -> None:
    monkeypatch.setenv("LAB_RESILIENCE", resilience)  # as lab.stack.topology gives it
    assert implementation(prog, load_settings(prog, [])) == impl
