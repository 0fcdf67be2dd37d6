"""The resilience patterns of the sync-resilient variant, in one place: a circuit breaker and a
bulkhead per peer (guard.py), load shedding on every server (shedding.py) and fallbacks that
answer partially and say so (fallbacks.py), with their parameters in settings.py. Plain sync
runs without them (docs/METHOD.md, Resilience)."""

from sync_impl.resilience.wiring import ResilientAdapters, adapters_for

__all__ = ["ResilientAdapters", "adapters_for"]
