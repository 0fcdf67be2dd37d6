"""Unit tests of the gRPC plumbing: targets, retry policy, error mapping."""

from __future__ import annotations

import json

import grpc
import pytest

from blog.domain import InvalidArgument, NotFound, Unavailable
from blog.rpc.channels import channel_options, grpc_target, retry_service_config
from blog.rpc.errors import _domain_error


def test_grpc_target_balances_over_replicas() -> None:
    assert grpc_target("127.0.0.1:1") == "ipv4:127.0.0.1:1"
    assert grpc_target(["127.0.0.1:1", "127.0.0.1:2"]) == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert grpc_target("localhost:5") == "dns:///localhost:5"
    with pytest.raises(ValueError):
        grpc_target(" , ")


def test_retry_policy_is_bounded_and_only_on_unavailable() -> None:
    config = retry_service_config()
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert 1 < policy["maxAttempts"] <= 5
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    options = dict(channel_options())
    assert json.loads(options["grpc.service_config"]) == config
    assert options["grpc.enable_retries"] == 1


def test_domain_error_found_inside_task_group_errors() -> None:
    inner = NotFound("post x not found")
    group = ExceptionGroup("tg", [ValueError("other"), ExceptionGroup("nested", [inner])])
    assert _domain_error(group) is inner
    assert _domain_error(ExceptionGroup("tg", [ValueError("bug")])) is None
    assert _domain_error(Unavailable("posts database")).what == "posts database"  # type: ignore[union-attr]


def test_error_messages_name_what_failed() -> None:
    assert (
        str(Unavailable("comments database", "refused")) == "comments database unavailable: refused"
    )
    assert str(InvalidArgument("title", "is required")) == "title: is required"


def test_status_codes_are_the_standard_ones() -> None:
    from blog.rpc.errors import _STATUS

    assert dict((k.__name__, v) for k, v in _STATUS) == {
        "InvalidArgument": grpc.StatusCode.INVALID_ARGUMENT,
        "NotFound": grpc.StatusCode.NOT_FOUND,
        "Unavailable": grpc.StatusCode.UNAVAILABLE,
        "DeadlineExceeded": grpc.StatusCode.DEADLINE_EXCEEDED,
    }


def test_a_connection_a_dead_server_left_broken_is_an_outage_not_a_bug() -> None:
    import asyncpg

    from blog.store.pool import is_connectivity_error

    # Seen under load right after a SIGKILL of the postmaster (was INTERNAL to the client).
    broken = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    )
    assert is_connectivity_error(broken)
    assert is_connectivity_error(asyncpg.exceptions.CrashShutdownError("crash of another server"))
    assert not is_connectivity_error(asyncpg.exceptions.UniqueViolationError("duplicate key"))
