"""gRPC plumbing shared by every server and client: status mapping, servers, channels, shutdown."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lab.domain import DeadlineExceeded, DomainError, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)


_STATUS: list[tuple[type[DomainError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
]

R = TypeVar("R")


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


# --- clients ---------------------------------------------------------------------------------
def retry_service_config(max_attempts: int = 3) -> dict[str, Any]:
    """gRPC's own retry policy: bounded retries with exponential backoff, on UNAVAILABLE only.

    Every method the lab retries is idempotent (reads, or writes keyed by an id), so a retry
    cannot create a second entity. Throttling stops retries from amplifying an outage.
    """
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],  # every service and method of the channel
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.02s",
                    "maxBackoff": "0.2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }


def grpc_target(addresses: str | Iterable[str]) -> str:
    """A channel target for one or more host:port replicas (client-side round robin)."""
    addrs = [a.strip() for a in (addresses.split(",") if isinstance(addresses, str) else addresses)]
    addrs = [a for a in addrs if a]
    if not addrs:
        raise ValueError("no address given")
    if len(addrs) == 1 and not addrs[0][0].isdigit():
        return f"dns:///{addrs[0]}"
    return "ipv4:" + ",".join(addrs)


def channel_options(max_attempts: int = 3) -> list[tuple[str, Any]]:
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(retry_service_config(max_attempts))),
        # Reconnect quickly after a peer restarts (the default backoff grows to 120 s).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def aio_channel(addresses: str | Iterable[str]) -> grpc.aio.Channel:
    """One long-lived channel per peer (reused by every call), balanced over its replicas."""
    return grpc.aio.insecure_channel(grpc_target(addresses), options=channel_options())


def sync_channel(addresses: str | Iterable[str]) -> grpc.Channel:
    """Blocking counterpart of aio_channel, for the CLI and tests."""
    return grpc.insecure_channel(grpc_target(addresses), options=channel_options())


# --- servers ---------------------------------------------------------------------------------
Registration = tuple[Callable[[Any, grpc.aio.Server], None], Any, str]


def create_server(
    listen: str, registrations: Iterable[Registration]
) -> tuple[grpc.aio.Server, int, grpc_health.aio.HealthServicer]:
    """Build a server with our services, health and reflection; bind it. Returns (server, port).

    Tests bind port 0 and read the port back.
    """
    server = grpc.aio.server()
    health = grpc_health.aio.HealthServicer()
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    for add, servicer, full_name in registrations:
        add(servicer, server)
        names.append(full_name)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names.append(reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    return server, port, health


def stop_signal() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (installed on the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(
    server: grpc.aio.Server,
    health: grpc_health.aio.HealthServicer,
    services: Iterable[str],
    *,
    address: str,
    grace_s: float,
    ready_file: Path | None = None,
    cleanups: Iterable[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Serve until SIGTERM/SIGINT, then shut down in order.

    Order: health NOT_SERVING -> server.stop(grace) (in-flight RPCs finish) -> cleanups
    (close channels, bus connections, database engines).
    """
    stop = stop_signal()
    await server.start()
    for name in ["", *services]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(address)
        tmp.replace(ready_file)  # atomic: the runner never reads half an address
    log.info("serving on %s", address)
    await stop.wait()
    log.info("stopping (grace %.1fs)", grace_s)
    await health.enter_graceful_shutdown()
    await server.stop(grace_s)
    for cleanup in cleanups:
        name = getattr(cleanup, "__qualname__", repr(cleanup))
        try:
            await cleanup()
            log.info("closed: %s", name)
        except Exception:
            log.exception("cleanup failed: %s", name)
    log.info("stopped")


def service_name(descriptor_module: Any, service: str) -> str:
    return descriptor_module.DESCRIPTOR.services_by_name[service].full_name


def configure_logging(name: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
    )
