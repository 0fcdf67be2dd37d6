"""The bare chain beside a real stack: its servers get their database's credentials from the
environment, never argv (`ps` shows no password)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks.floor.bare_chain import BareChain
from lab.stack.runner import Stack


@pytest.fixture
def bare(stack: Stack, tmp_path: Path) -> Iterator[BareChain]:
    chain = BareChain(stack.describe(), tmp_path)
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()


def test_no_password_on_any_command_line(stack: Stack, bare: BareChain) -> None:
    passwords = set()
    for server in stack.databases.values():
        passwords |= {server.database.password, urlsplit(server.superuser_dsn).password}
    args = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert "benchmarks.floor.bare_chain" in args.stdout  # the bare chain's servers are running
    assert not [p for p in passwords if p and p in args.stdout]
