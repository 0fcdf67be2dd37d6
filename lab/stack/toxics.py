"""What a fault proxy's link does to the bytes it carries (toxiproxy's "toxics", the few the lab
uses): added latency with jitter, hold (a blackhole), reset, and a share of exchanges reset.

Plain data shared by the proxy process (lab.stack.linkproxy) and the runner that drives it
(lab.stack.proxies); standard library only, so the proxy starts in a few milliseconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

JITTER_SHARE = 0.1  # a latency dose D is D +- 10 % (uniform): no two round trips alike
MAX_LATENCY_MS = 60_000.0  # above a minute a link is not slow but cut: use a partition


@dataclass(frozen=True)
class Behaviour:
    """How one link treats its connections; the default forwards everything at once.

    - latency_ms, jitter_ms: every chunk the server sends back (its answer to each round trip)
      is delivered latency +- jitter ms later, never before the chunk ahead of it;
    - hold: nothing is forwarded either way, nothing is refused: open connections stay open
      and silent, new ones are accepted and left waiting (a blackhole: a partition in which
      TCP keeps retransmitting). What was held flows on, in order, once the hold ends;
    - refuse: every open connection is reset (RST) and every new one is reset once accepted;
    - reset_share: each chunk, either way, resets its connection with this probability.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hold: bool = False
    refuse: bool = False
    reset_share: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "reset_share"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.latency_ms > MAX_LATENCY_MS:
            raise ValueError(f"latency_ms must be at most {MAX_LATENCY_MS:g}")
        if self.jitter_ms > self.latency_ms:
            raise ValueError("jitter_ms must not exceed latency_ms (a delay is never negative)")
        if self.reset_share > 1:
            raise ValueError("reset_share is a probability: at most 1")

    @classmethod
    def slow(cls, latency_ms: float) -> Behaviour:
        """`latency_ms` with the lab's jitter (JITTER_SHARE of it)."""
        return cls(latency_ms=latency_ms, jitter_ms=latency_ms * JITTER_SHARE)

    @property
    def clear(self) -> bool:
        return self == CLEAR

    def delay_s(self, rng: random.Random) -> float:
        """The delay of the next chunk towards the client, in seconds."""
        if not self.latency_ms:
            return 0.0
        return max(0.0, self.latency_ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Behaviour:
        """The inverse of to_json; ValueError on anything else."""
        if not isinstance(data, dict) or set(data) - set(cls.__dataclass_fields__):
            raise ValueError(f"a behaviour is an object with keys {sorted(asdict(CLEAR))}")
        try:
            return cls(**data)
        except TypeError as error:
            raise ValueError(str(error)) from None


CLEAR = Behaviour()
