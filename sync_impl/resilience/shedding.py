"""Server-side load shedding (Google SRE, Handling Overload): beyond a bound of requests in
flight, a service answers RESOURCE_EXHAUSTED at once instead of queueing without limit.

A grpc.aio server interceptor rather than grpc.aio.server(maximum_concurrent_rpcs=N), which
sheds the same way but counts every RPC: health checks would be refused under load (and an
orchestrator would then restart a service that is merely busy), the fault-control probes too,
and nothing would count what was shed. Here health, reflection and MetricsService always pass,
and every shed request is counted (`requests_shed` in `lab metrics SERVICE`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from blog.rpc.errors import NO_RETRY
from blog.rpc.metrics import Metrics
from blog.rpc.server import service_name
from blog.v1 import internal_pb2
from sync_impl.resilience.bulkhead import Bulkhead

# Never shed: how others see that the process is alive, and what measures it.
EXEMPT: tuple[str, ...] = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
    f"/{service_name(internal_pb2, 'MetricsService')}/",
)


class LoadShedder(Bulkhead):
    """The decision: `try_enter()` before a request (False: shed it), `leave()` after: the same
    bound on work in flight as a bulkhead's, on the server's side of the call."""

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("a service must be able to serve at least one request")
        super().__init__("requests", max_in_flight)


Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class SheddingInterceptor(grpc.aio.ServerInterceptor):
    """Applies a LoadShedder to every unary RPC of the process but the EXEMPT ones."""

    def __init__(self, shedder: LoadShedder, metrics: Metrics, service: str) -> None:
        self.shedder = shedder
        self.metrics = metrics
        self.service = service
        # The wrapped handler of each method, made once: the lookup is the same every time.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or method.startswith(EXEMPT):
            return handler
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._guarded(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = wrapped
        return wrapped

    def _guarded(self, serve: Handler) -> Handler:
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if not self.shedder.try_enter():
                self.metrics.inc("requests_shed")
                context.set_trailing_metadata(NO_RETRY)  # a retry at once would add load
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{self.service} service overloaded: "
                    f"{self.shedder.max_in_flight} requests in flight, try again later",
                )
            try:
                return await serve(request, context)
            finally:
                self.shedder.leave()

        return guarded
