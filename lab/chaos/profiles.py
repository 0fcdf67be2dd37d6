"""How long each phase of an experiment lasts, and the load it runs under."""

from __future__ import annotations

from dataclasses import dataclass

from lab.chaos.experiment import Phases


@dataclass(frozen=True)
class ChaosProfile:
    phases: Phases
    rate: float  # open-loop requests/s of the chaos mix (one generator process)
    seed_posts: int
    repetitions: int = 1  # of every experiment, the implementations interleaved


PROFILES: dict[str, ChaosProfile] = {
    # CI: a few seconds per phase; proves the pipeline and the audit, not a figure to publish.
    "smoke": ChaosProfile(Phases(warmup_s=3, hold_s=4, observe_s=5), 30, 10),
    # `lab chaos` by default. 200 requests/s: the chaos mix's rarest operation (10 %) is then
    # sent every 50 ms on average, the resolution of its recovery time (docs/METHOD.md,
    # Coupling and failure isolation).
    "quick": ChaosProfile(Phases(warmup_s=4, hold_s=6, observe_s=6), 200, 20),
    # The published report: each fault held 8 s, three repetitions, so that every cell of the
    # blast-radius matrix rests on a few hundred requests (the rarest operation: ~480).
    "full": ChaosProfile(Phases(warmup_s=5, hold_s=8, observe_s=8), 200, 50, repetitions=3),
}
