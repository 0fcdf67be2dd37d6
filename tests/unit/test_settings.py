"""Unit tests of service settings: from flags and the environment, failing fast when missing."""

from __future__ import annotations

import pytest

from blog.rpc.settings import load_settings


def test_settings_from_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_DSN", "postgresql+asyncpg://u:p@127.0.0.1:1/d")
    settings = load_settings("x", ["--call-timeout-ms", "250", "--blocklist", "a,b"])
    assert settings.call_timeout_ms == 250
    assert settings.dsn.endswith("/d")
    assert settings.moderator().blocklist == ("a", "b")


def test_missing_settings_fail_fast_naming_them() -> None:
    settings = load_settings("x", [])
    with pytest.raises(SystemExit, match="--posts-addr"):
        settings.require("dsn", "posts_addr")
