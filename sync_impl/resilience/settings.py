"""The parameters of the resilience patterns, in one object, each with the reason for its value
(docs/METHOD.md, Resilience). They are the lab's choices, not tuned per fault: one setting for
every experiment, as a team would ship it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BreakerSettings:
    """A circuit breaker per peer: closed -> open when, over the last `window_s`, at least
    `min_calls` calls were made and `failure_rate` of them failed; open for `open_s`; then
    half-open: `half_open_probes` calls at a time go through, the first verdict decides."""

    # One second, in ten buckets: the lab's load sends a peer tens of calls a second, enough for
    # a rate; and an outage pushes the successes out of a one-second window within about half
    # a second, so the breaker opens that soon. A longer window remembers more successes and
    # opens later; a shorter one rests on too few calls.
    window_s: float = 1.0
    window_buckets: int = 10
    # Below five calls in the window a rate means little (one failure of two is 50 %): a
    # breaker on a quiet peer stays closed, and each call there takes its own chance.
    min_calls: int = 5
    # Half of the calls failing is no blip (gRPC has already retried UNAVAILABLE twice under
    # each of them); a peer that fails less often still answers most callers.
    failure_rate: float = 0.5
    # A probe every half second costs a dead peer nothing, and a restored one is used again
    # within half a second, less than a Python service takes to start (about a second).
    open_s: float = 0.5
    # One probe at a time: a recovering peer gets one call, not the whole backlog at once.
    half_open_probes: int = 1


@dataclass(frozen=True)
class ResilienceSettings:
    """Every pattern's parameters (sync_impl/resilience/)."""

    breaker: BreakerSettings = BreakerSettings()
    # Bulkhead, per peer and process: at most this many calls in flight, more are refused at
    # once. Little's law: the lab's peers answer in a few milliseconds, so even at the
    # capacity (a few hundred requests/s, p99 <= 50 ms) a peer has about ten calls in flight;
    # 64 is never reached by a healthy peer, and a slow one can hold at most 64 tasks.
    max_calls_in_flight_per_peer: int = 64
    # Load shedding, per process: beyond this many requests in flight a service answers
    # RESOURCE_EXHAUSTED at once. A process serves a few hundred requests/s; 100 in flight is
    # a queue of about a quarter of a second, five times the SLO's p99: beyond it a request
    # would only wait longer, and make every request behind it wait longer too.
    max_requests_in_flight: int = 100
    # A view's comments call ends this much before the caller's deadline, so that the partial
    # answer (the post without its comments) still reaches the caller in time.
    fallback_reserve_s: float = 0.05
    # Posts seen to exist, kept by the comments service for CreateComment while the posts
    # service is unavailable. Posts are never deleted, so an entry cannot go stale; 10,000
    # ids (under 1 MB) hold every post a lab run comments on.
    seen_posts: int = 10_000


DEFAULT = ResilienceSettings()
