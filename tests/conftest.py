"""Shared fixtures and hooks: real stacks (PostgreSQL servers + gRPC services on loopback) and
clients. Helpers that tests import live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.stack.runner import Stack
from tests.helpers import IMPLS, Api, PolicyStacks, start_stack


@pytest.fixture(scope="session", params=IMPLS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One running stack per implementation, shared by the contract suite (tests use fresh ids)."""
    running = start_stack(request.param, tmp_path_factory.mktemp(f"stack-{request.param}"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[Api]:
    client = Api.from_stack_file(stack.stack_file)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def policy_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyStacks]:
    """Stacks with other settings than the default (e.g. another causality policy), started
    when a test of the module first asks, shared by its tests that ask for the same settings,
    and stopped with the module (an idle stack must not share the 2 cores with later tests)."""
    running: dict[str, Stack] = {}

    def get(impl: str, **config: object) -> Stack:
        key = f"{impl} {sorted(config.items())}"
        if key not in running:
            data_dir = tmp_path_factory.mktemp(f"stack-{impl}-{config.get('causality', 'x')}")
            running[key] = start_stack(impl, data_dir, **config)
        return running[key]

    try:
        yield get
    finally:
        for stack in running.values():
            stack.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path) or "contract" in str(item.path):
            item.add_marker(pytest.mark.integration)
