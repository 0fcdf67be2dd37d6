"""tests/deploy: the Dockerfile, docker-compose.yml and the Kubernetes manifests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "containers: builds images and runs docker-compose.yml under podman (skipped, loudly, "
        "where podman cannot run)",
    )
