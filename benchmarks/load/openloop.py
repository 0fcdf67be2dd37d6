"""Open-loop arrivals (as wrk2 schedules them, but independent of each other): request start times
are fixed in advance from a rate profile, and latency counts from the *scheduled* start. Each
arrival is sent on its own, without waiting for any earlier answer, so one operation's slow
answer cannot delay another's start (docs/METHOD.md, Load): only the generator's own lateness
(its send lag, measured) and the server's queueing are in a request's latency.

Pure logic: the generator (benchmarks/load/dispatcher.py) turns these times into requests, and
`simulate` runs the same model on a virtual clock for tests and reasoning."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateStep:
    """From `at_s` seconds after the start (until the next step), `rate` requests/s."""

    at_s: float
    rate: float


@dataclass(frozen=True)
class RateProfile:
    """Offered load over time: a piecewise-constant rate, ending at `end_s` (None: never).

    A constant rate is one step; an overload spike is three (base, spike, base)."""

    steps: tuple[RateStep, ...]
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0].at_s != 0:
            raise ValueError("a rate profile starts with a step at 0 s")
        if any(b.at_s <= a.at_s for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("rate steps must be in increasing time order")
        if any(s.rate < 0 for s in self.steps):
            raise ValueError("rates must not be negative")
        if self.end_s is not None and self.end_s <= 0:
            raise ValueError("a rate profile must last longer than 0 s")

    @classmethod
    def constant(cls, rate: float, end_s: float | None = None) -> RateProfile:
        return cls((RateStep(0.0, rate),), end_s)

    @classmethod
    def parse(cls, text: str, end_s: float | None = None) -> RateProfile:
        """`AT:RATE,AT:RATE,...` (seconds from the start, requests/s): `0:120,30:400,75:120`."""
        steps = []
        for part in text.split(","):
            at, sep, rate = part.strip().partition(":")
            if not sep:
                raise ValueError(f"rate step {part.strip()!r}: expected AT_S:RATE")
            steps.append(RateStep(float(at), float(rate)))
        return cls(tuple(steps), end_s)

    def rate_at(self, t_s: float) -> float:
        current = self.steps[0].rate
        for step in self.steps:
            if step.at_s > t_s:
                break
            current = step.rate
        return current

    def scaled(self, share: float) -> RateProfile:
        """The same profile at `share` of its rates (one of several generator processes)."""
        return RateProfile(tuple(RateStep(s.at_s, s.rate * share) for s in self.steps), self.end_s)

    def expected_requests(self) -> float:
        """How many arrivals the profile offers in all (its end must be set)."""
        assert self.end_s is not None, "an open-ended profile offers no finite count"
        bounds = [s.at_s for s in self.steps[1:]] + [self.end_s]
        return sum(
            s.rate * max(0.0, min(b, self.end_s) - s.at_s)
            for s, b in zip(self.steps, bounds, strict=True)
        )


def arrivals(profile: RateProfile, rng: random.Random) -> Iterator[float]:
    """Arrival times (seconds from the start) of a Poisson process whose rate follows the
    profile: exponential gaps at each step's rate; at a step's end the next step starts afresh
    from its boundary (exact, since the exponential distribution is memoryless)."""
    steps = list(profile.steps)
    for i, step in enumerate(steps):
        until = steps[i + 1].at_s if i + 1 < len(steps) else None
        if profile.end_s is not None:
            until = profile.end_s if until is None else min(until, profile.end_s)
        t = step.at_s
        while step.rate > 0:
            t += rng.expovariate(step.rate)
            if until is not None and t >= until:
                break
            yield t
        if until is None:  # an open-ended profile whose last rate is 0 offers nothing more
            return
        if profile.end_s is not None and until >= profile.end_s:
            return


def live_arrivals(rate: Callable[[], float], rng: random.Random) -> Iterator[float]:
    """Arrival times (seconds from the start) of a Poisson process whose rate is read at each
    arrival (`rate()`, requests/s; 0 pauses it): each gap is drawn at the rate of its start, so
    a change takes effect within one gap (exact for the same memoryless reason as above)."""
    t = 0.0
    while True:
        current = rate()
        if current <= 0:
            t += 0.05  # paused: look again shortly
            continue
        t += rng.expovariate(current)
        yield t


@dataclass(frozen=True)
class Timing:
    """One request: when it should have started, when it started, when it ended (seconds)."""

    scheduled: float
    sent: float
    done: float

    @property
    def corrected_us(self) -> float:
        """Latency as a user at the target rate sees it (from the scheduled start)."""
        return (self.done - self.scheduled) * 1e6

    @property
    def service_us(self) -> float:
        """Latency from the actual send (what a closed-loop tool reports)."""
        return (self.done - self.sent) * 1e6


def simulate(
    times: Sequence[float],
    service_time: Callable[[float], float],
    senders: int | None = None,
) -> list[Timing]:
    """Send requests at `times` against a server model on a virtual clock (tests, reasoning).

    service_time(t) is how long a request sent at time t takes. senders=None: every arrival is
    sent at its time (the lab's generator); senders=k: at most k requests outstanding, each
    sender waits for its answer before it sends the next (a closed pool, as Locust users with
    one request in flight each were), so late requests are sent as soon as a sender is free."""
    timings = []
    free_at = [float("-inf")] * (senders or 0)
    for scheduled in times:
        if senders is None:
            sent = scheduled
        else:
            k = min(range(senders), key=free_at.__getitem__)
            sent = max(scheduled, free_at[k])
        done = sent + service_time(sent)
        if senders is not None:
            free_at[k] = done
        timings.append(Timing(scheduled, sent, done))
    return timings
