"""Client channels: one long-lived channel per peer, round robin over replicas, gRPC's own
bounded retry on UNAVAILABLE."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import grpc

from blog.tracing import grpc as tracing


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
    """One long-lived channel per peer (reused by every call), balanced over its replicas; with
    CLIENT spans when the process traces."""
    channel: grpc.aio.Channel = tracing.aio_channel(grpc_target(addresses), channel_options())
    return channel


def sync_channel(addresses: str | Iterable[str]) -> grpc.Channel:
    """Blocking counterpart of aio_channel, for the CLI and tests."""
    return grpc.insecure_channel(grpc_target(addresses), options=channel_options())
