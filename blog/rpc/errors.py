"""Domain errors to gRPC statuses (servers) and peer failures to domain errors (clients)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from blog.domain import DeadlineExceeded, DomainError, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[DomainError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
]

R = TypeVar("R")

# Trailing metadata that tells gRPC's client retry policy not to retry this answer (gRPC A6).
NO_RETRY = (("grpc-retry-pushback-ms", "-1"),)


def rpc_method(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Turn domain errors raised by a servicer method into the matching gRPC status.

    Anything else is a bug: it is logged with its traceback and the client gets INTERNAL with no
    details (never a stack trace).
    """

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except (DomainError, ExceptionGroup) as raised:
            error = _domain_error(raised)
            if error is None:
                log.exception("unexpected error in %s", method.__qualname__)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error (see the server log)")
            if isinstance(error, Unavailable) and error.fail_fast:
                # gRPC's retry policy (ours and any client's) does not retry an answer with a
                # negative pushback: a refusal that is meant to be fast stays fast.
                context.set_trailing_metadata(NO_RETRY)
            for kind, code in _STATUS:
                if isinstance(error, kind):
                    await context.abort(code, str(error))
            raise
        except asyncio.CancelledError:
            raise  # the client went away or the server is stopping
        except Exception:
            log.exception("unexpected error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error (see the server log)")
            raise

    return wrapper


def _domain_error(error: BaseException) -> DomainError | None:
    """The domain error behind `error`, looking inside the ExceptionGroup of a TaskGroup."""
    if isinstance(error, DomainError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _domain_error(inner)
            if found is not None:
                return found
    return None


def remaining_timeout(context: grpc.aio.ServicerContext | None, default_s: float) -> float:
    """Deadline for an outbound call: ours, but never past what our caller still allows."""
    remaining = context.time_remaining() if context is not None else None
    if remaining is None:
        return default_s
    return max(0.001, min(default_s, remaining - 0.002))


_PEER_DOWN = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.ABORTED,
}


async def call_peer(name: str, call: Awaitable[R]) -> R:
    """Await an outbound RPC to service `name`; translate its failure into a domain error."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        code = error.code()
        if code == grpc.StatusCode.NOT_FOUND:
            raise NotFound(error.details() or "not found") from None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise DeadlineExceeded(f"{name} service") from None
        if code in _PEER_DOWN:
            raise Unavailable(f"{name} service", error.details() or code.name) from None
        raise  # any other status from a peer is a bug in this lab: let it surface as one
