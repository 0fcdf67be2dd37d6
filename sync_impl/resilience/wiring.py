"""Which adapters a sync service process uses: plain ones (sync) or the same with the patterns
around them (sync-resilient, LAB_RESILIENCE=1), and the load shedding on its server."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from blog.ports import PostDirectory, PostViewReader
from blog.rpc.metrics import Metrics
from blog.rpc.process import Assembly
from blog.rpc.settings import ServiceSettings
from blog.v1 import api_pb2_grpc, internal_pb2_grpc
from sync_impl.peers import Adapters
from sync_impl.resilience.breaker import CircuitBreaker, Clock
from sync_impl.resilience.bulkhead import Bulkhead
from sync_impl.resilience.fallbacks import PartialPostViews, SeenPosts, SeenPostsDirectory
from sync_impl.resilience.guard import PeerGuard
from sync_impl.resilience.settings import DEFAULT, ResilienceSettings
from sync_impl.resilience.shedding import LoadShedder, SheddingInterceptor

R = TypeVar("R")


class ResilientAdapters(Adapters):
    """Adapters whose every peer call goes through that peer's guard (bulkhead, breaker), with
    the fallbacks: partial post views, and seen posts for CreateComment's existence check."""

    def __init__(
        self,
        metrics: Metrics,
        settings: ResilienceSettings = DEFAULT,
        clock: Clock = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.settings = settings
        self.clock = clock
        self.guards: dict[str, PeerGuard] = {}
        self.seen_posts = SeenPosts(settings.seen_posts)

    def guard(self, peer: str) -> PeerGuard:
        """The peer's guard, made at its first call (one per peer and process)."""
        guard = self.guards.get(peer)
        if guard is None:
            breaker = CircuitBreaker(peer, self.settings.breaker, self.clock)
            bulkhead = Bulkhead(peer, self.settings.max_calls_in_flight_per_peer)
            guard = self.guards[peer] = PeerGuard(peer, breaker, bulkhead, self.metrics)
        return guard

    def call(self, peer: str, make: Callable[[], Awaitable[R]]) -> Coroutine[Any, Any, R]:
        return self.guard(peer).call(make)

    def post_directory(self, stub: api_pb2_grpc.PostServiceStub, timeout_s: float) -> PostDirectory:
        return SeenPostsDirectory(
            super().post_directory(stub, timeout_s), self.seen_posts, self.metrics
        )

    def post_views(
        self,
        posts: api_pb2_grpc.PostServiceStub,
        comments: api_pb2_grpc.CommentServiceStub,
        comment_index: internal_pb2_grpc.CommentIndexServiceStub,
        timeout_s: Callable[[], float],
    ) -> PostViewReader:
        return PartialPostViews(
            posts,
            comments,
            comment_index,
            timeout_s,
            self.call,
            self.settings.fallback_reserve_s,
            self.metrics,
        )

    def shedding(self, service: str) -> SheddingInterceptor:
        shedder = LoadShedder(self.settings.max_requests_in_flight)
        return SheddingInterceptor(shedder, self.metrics, service)


def adapters_for(settings: ServiceSettings, assembly: Assembly) -> Adapters:
    """The adapters of this process: with the patterns when its settings switch them on
    (LAB_RESILIENCE=1; load shedding then guards its server too), plain otherwise."""
    if not settings.resilience:
        return Adapters()
    adapters = ResilientAdapters(assembly.metrics)
    assembly.interceptors.append(adapters.shedding(assembly.service))
    return adapters
