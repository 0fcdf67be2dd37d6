"""What a stack is asked to run: the implementation, where its data lives, and the options its
services are started with (lab.stack.runner turns it into processes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PrometheusSettings:
    """A Prometheus server run beside the stack (`--prometheus`; lab.stack.prometheus)."""

    # Its configuration, rules and time-series data; None: DATA_DIR/prometheus. A command that
    # runs stack after stack (bench, chaos) gives them one home and one port: one URL and one
    # history for the whole command.
    home: Path | None = None
    port: int = 0  # 0: any free port


@dataclass(frozen=True)
class StackOptions:
    """How a stack's services are set up, beyond the implementation. Each field but `replicas`,
    `metrics` and `prometheus` is one of the services' settings (blog/rpc/settings.py); None
    leaves the services' default."""

    replicas: Mapping[str, int] = field(default_factory=dict)  # service -> count (default 1)
    # Every service serves its Metrics as Prometheus text on a loopback port of its own, and an
    # async stack runs the bus exporter (off: to measure what exposition costs).
    metrics: bool = True
    prometheus: PrometheusSettings | None = None  # a Prometheus server scraping every process
    blocklist: str | None = None
    moderation_delay_ms: float | None = None
    call_timeout_ms: int | None = None
    # Async comments on posts not heard of yet: refuse | wait | accept, and the bounds of wait
    # and accept (docs/METHOD.md, Causality across services).
    causality: str | None = None
    causality_wait_ms: float | None = None
    causality_accept_s: float | None = None
    # Traces (docs/METHOD.md, Where each millisecond goes): the share of requests traced (None
    # or 0: off) and where each process writes its OTLP JSON file (default DATA_DIR/traces).
    trace_sample: float | None = None
    trace_dir: Path | None = None

    def replica_count(self, service: str) -> int:
        return max(1, self.replicas.get(service, 1))

    def service_env(self) -> dict[str, str]:
        """The LAB_* environment every service process of the stack gets from these options
        (not argv: `ps` shows argv to every local user)."""
        env = {}
        for name in (
            "blocklist",
            "moderation_delay_ms",
            "call_timeout_ms",
            "causality",
            "causality_wait_ms",
            "causality_accept_s",
            "trace_sample",
            "trace_dir",
        ):
            value = getattr(self, name)
            if value is not None:
                env[f"LAB_{name.upper()}"] = str(value)
        return env


@dataclass(frozen=True)
class StackConfig:
    """One stack: which implementation, where its data and logs live, with which options."""

    impl: str
    data_dir: Path
    options: StackOptions = field(default_factory=StackOptions)
    fresh: bool = False  # wipe data_dir's databases first
