"""What a stack is asked to run: the implementation, where its data lives, and the options its
services are started with (lab.stack.runner turns it into processes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lab.stack.knobs import NoiseKnobs


@dataclass(frozen=True)
class StackOptions:
    """How a stack's services are set up, beyond the implementation. Each field but `replicas`
    is one of the services' settings (blog/rpc/settings.py); None leaves the services' default."""

    replicas: Mapping[str, int] = field(default_factory=dict)  # service -> count (default 1)
    blocklist: str | None = None
    moderation_delay_ms: float | None = None
    call_timeout_ms: int | None = None
    # Async comments on posts not heard of yet: refuse | wait | accept, and the bounds of wait
    # and accept (docs/METHOD.md, Causality across services).
    causality: str | None = None
    causality_wait_ms: float | None = None
    causality_accept_s: float | None = None
    # The noise study's variables (lab.stack.knobs; docs/METHOD.md, Noise); default: none.
    noise: NoiseKnobs = field(default_factory=NoiseKnobs)

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
        ):
            value = getattr(self, name)
            if value is not None:
                env[f"LAB_{name.upper()}"] = str(value)
        env.update(self.noise.service_env())
        return env


@dataclass(frozen=True)
class StackConfig:
    """One stack: which implementation, where its data and logs live, with which options."""

    impl: str
    data_dir: Path
    options: StackOptions = field(default_factory=StackOptions)
    fresh: bool = False  # wipe data_dir's databases first
