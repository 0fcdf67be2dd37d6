"""Clients built before PostView.completeness was added (the protos of
tests/fixtures/protos-before-completeness/) still work against every implementation: they write,
and they read views whose new field they skip as an unknown one (tests/old_client.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.stack.runner import Stack
from lab.stack.stackfile import load_stack_file
from tests.helpers import eventually
from tests.old_client import compile_old_api, run_old_client

APPROVED = 2


@pytest.fixture(scope="session")
def old_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_old_api(tmp_path_factory.mktemp("old-client"))


def test_an_old_client_writes_and_reads_views(stack: Stack, old_code: Path) -> None:
    info = load_stack_file(stack.stack_file)
    written = run_old_client(old_code, dict(info), "write-and-read")

    def final_view() -> dict[str, object]:
        view = run_old_client(old_code, dict(info), "view", written["post_id"])
        assert view["comments"] == [["from an old client", APPROVED]], "not final yet"
        return view

    assert eventually(final_view)["title"] == "old client"
    page = run_old_client(old_code, dict(info), "page")
    assert page["views"] and all(v["title"] for v in page["views"])
