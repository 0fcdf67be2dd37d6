"""Figure 4 of a chaos experiment: comments refused after the restore for posts acknowledged well
before (the comments service catching up on the events of the outage).

Conventions shared by every figure: lab/chaos/figures.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from lab.chaos.records import FaultWindow, RequestRecord


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Comments refused because the comments service had not yet heard of a post that was
    acknowledged well before (async: its copy of known posts lags behind the posts service,
    e.g. while its consumer catches up on the events of the outage).

    - refused: CreateComment records with status NOT_FOUND whose post_id is the `id` of an
      acknowledged CreatePost (status OK) of the log, where the post's acknowledgement (the
      end of its first OK CreatePost record) came at least `min_age_s` before the refusal
      (the end of the CreateComment record);
    - posts: distinct posts with at least one such refusal;
    - last_refusal_after_restore_s: the latest such refusal minus restored_at (negative when
      every one came during the fault); None when there is none;
    - longest_ack_to_refusal_s: the longest time from a post's acknowledgement to the refusal
      of a comment on it, over the counted refusals; None when there is none;
    - refused_young: NOT_FOUND on an acknowledged post less than `min_age_s` after its
      acknowledgement (ordinary propagation lag, not counted above);
    - refused_unknown_post: NOT_FOUND on a post no CreatePost of the log acknowledged (e.g. a
      seeded post: a different defect, not catch-up).
    """

    min_age_s: float
    refused: int
    posts: int
    last_refusal_after_restore_s: float | None
    longest_ack_to_refusal_s: float | None
    refused_young: int
    refused_unknown_post: int

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (an experiment's `catch_up`): the fields above, by name."""
        return asdict(self)


def catch_up(
    records: Iterable[RequestRecord], window: FaultWindow, min_age_s: float = 1.0
) -> CatchUp:
    """How long after the restore comments keep being refused for posts acknowledged at
    least `min_age_s` earlier (see `CatchUp` for each figure's definition)."""
    records = list(records)
    acked: dict[str, float] = {}
    for r in records:
        if r.op == "CreatePost" and r.ok and r.id:
            acked[r.id] = min(r.end, acked.get(r.id, math.inf))
    refused_ends: list[float] = []
    ages: list[float] = []
    posts: set[str] = set()
    young = unknown = 0
    for r in records:
        if r.op != "CreateComment" or r.status != "NOT_FOUND":
            continue
        ack = acked.get(r.post_id)
        if ack is None:
            unknown += 1
        elif r.end - ack >= min_age_s:
            refused_ends.append(r.end)
            ages.append(r.end - ack)
            posts.add(r.post_id)
        else:
            young += 1
    return CatchUp(
        min_age_s=min_age_s,
        refused=len(refused_ends),
        posts=len(posts),
        last_refusal_after_restore_s=(
            max(refused_ends) - window.restored_at if refused_ends else None
        ),
        longest_ack_to_refusal_s=max(ages) if ages else None,
        refused_young=young,
        refused_unknown_post=unknown,
    )
