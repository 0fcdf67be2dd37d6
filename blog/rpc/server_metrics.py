"""Each unary RPC a server handles, timed and counted by status into the process's Metrics: the
server-side latency and error rate per method that operators read (docs/METHOD.md, Watching a
run live). Streaming RPCs (server reflection) pass through untouched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from blog.rpc.metrics import Metrics

# Metrics names: RPC_LATENCY.<full method> (HDR, us) and RPC_HANDLED.<full method>.<CODE>, where
# the full method is `package.Service/Method` (e.g. blog.v1.PostService/CreatePost).
RPC_LATENCY = "rpc_us"
RPC_HANDLED = "rpc"


def _code_name(code: object) -> str:
    """A status code's name, whatever the context hands back (a StatusCode or its number)."""
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return grpc.StatusCode.UNKNOWN.name


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Records every unary call's time (from the handler's start to its answer or status) and
    its status code. The wrapped handler is built once per method's handler and kept (an outer
    interceptor, e.g. tracing's, may hand over another handler per call: then it is rebuilt)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # unknown method (UNIMPLEMENTED) or a stream: not recorded
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._timed(method.lstrip("/"), handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _timed(
        self, method: str, behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        metrics = self.metrics
        latency = f"{RPC_LATENCY}.{method}"
        handled = f"{RPC_HANDLED}.{method}."

        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "UNKNOWN"  # an exception other than context.abort()'s
            try:
                answer = await behaviour(request, context)
                code = "OK"
                return answer
            except asyncio.CancelledError:
                code = "CANCELLED"  # the caller went away, or the server is stopping
                raise
            finally:
                set_code = context.code()  # set by context.abort() or set_code()
                if set_code is not None:
                    code = _code_name(set_code)
                metrics.record_us(latency, (time.perf_counter() - started) * 1e6)
                metrics.inc(handled + code)

        return timed
