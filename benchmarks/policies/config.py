"""The settings of `lab bench --causality` (meta.json's config) and the variants they name: sync
as the reference, then async under each policy compared (docs/METHOD.md, Causality across
services)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from blog.domain import CausalityPolicy
from lab.stack.config import StackOptions

POLICIES = tuple(policy.value for policy in CausalityPolicy)  # in the enum's order


@dataclass
class CausalityConfig:
    """The comparison's settings (meta.json's config)."""

    policies: list[str]
    sync_reference: bool = True  # also run the sync implementation (the policy does not apply)
    probes: int = 150  # CreatePost + CreateComment pairs per run
    rate: float = 20.0  # pairs started per second (one client; a late pair starts at once)
    warmup: int = 10  # pairs before the measured ones, not recorded
    bad_input: int = 10  # comments on posts that never existed, without a token
    bad_input_token: int = 3  # the same with a token naming such a post
    repeat: int = 2
    causality_wait_ms: float | None = None  # None: the services' defaults
    causality_accept_s: float | None = None
    scenario: str | None = "mixed"  # the load each variant also runs under; None: none
    load_rate: float = 50.0  # open loop, requests/s
    load_duration_s: float = 15.0  # measured, after load_warmup_s
    load_warmup_s: float = 3.0
    seed_posts: int = 20  # posts (with 0-3 comments each) seeded before the load
    seed: int = 1  # the load's random seed
    faults: list[str] = field(default_factory=list)  # chaos faults, e.g. kill-db:comments
    chaos_profile: str = "quick"  # the experiments' phases and load (lab/chaos/profiles.py)
    # What every fresh stack starts with (--no-metrics, --prometheus); each variant adds its own.
    stack: StackOptions = field(default_factory=StackOptions)
    results_dir: Path = Path("results")
    progress: bool = True
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def say(config: CausalityConfig, line: str) -> None:
    """A progress line, unless the configuration asks for quiet."""
    if config.progress:
        print(line, flush=True)


def variants(config: CausalityConfig) -> list[tuple[str, str | None]]:
    """(impl, policy) pairs in run order."""
    return ([("sync", None)] if config.sync_reference else []) + [
        ("async", p) for p in config.policies
    ]


def label(impl: str, policy: str | None) -> str:
    """A variant's name: sync, or async-<policy>."""
    return impl if policy is None else f"{impl}-{policy}"
