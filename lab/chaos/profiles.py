"""How long each phase of an experiment lasts, and the load it runs under."""

from __future__ import annotations

from dataclasses import dataclass

from lab.chaos.experiment import Phases


@dataclass(frozen=True)
class ChaosProfile:
    phases: Phases
    rate: float  # open-loop requests/s of the chaos mix
    users: int  # Locust users: enough that a stalled request does not stall the schedule
    seed_posts: int


PROFILES: dict[str, ChaosProfile] = {
    # CI: a few seconds per phase; proves the pipeline and the audit, not a figure to publish.
    "smoke": ChaosProfile(Phases(warmup_s=3, hold_s=4, observe_s=5), 20, 10, 10),
    # `lab chaos` by default and the matrix: ~25 s per experiment.
    "quick": ChaosProfile(Phases(warmup_s=4, hold_s=8, observe_s=8), 40, 20, 20),
    # The published report.
    "full": ChaosProfile(Phases(warmup_s=10, hold_s=20, observe_s=20), 40, 20, 50),
}
