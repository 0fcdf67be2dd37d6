"""The async query service's start: a rebuild only when the read model is empty and the event
store is not, decided under the query database's advisory lock (replicas start together)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from async_impl.consumer import DurableConsumer
from async_impl.query import REBUILD_LOCK, Rebuilder, VisibilityLag
from blog.rpc.metrics import Metrics
from blog.store.pool import Database
from tests.fakes import FakeDatabase, Log


class FakeConsumer:
    def __init__(self, log: Log) -> None:
        self.log = log

    def start(self) -> None:
        self.log.add("consumer-start")

    async def stop(self) -> None:
        self.log.add("consumer-stop")

    async def reset(self) -> None:
        self.log.add("consumer-reset")


class FakeStreams:
    def __init__(self, messages: int) -> None:
        self.messages = messages

    async def stream_info(self, name: str) -> Any:
        return SimpleNamespace(
            state=SimpleNamespace(messages=self.messages, last_seq=self.messages)
        )


def start(messages: int, read_model_empty: bool) -> list[str]:
    log = Log()
    db = FakeDatabase(log)
    db.fetchval_result = not read_model_empty  # is_empty(): SELECT EXISTS (...) OR ...
    rebuilder = Rebuilder(
        cast(Database, db),
        cast(DurableConsumer, FakeConsumer(log)),
        VisibilityLag(Metrics("query")),
        cast(Any, FakeStreams(messages)),
    )
    asyncio.run(rebuilder.start(replay_wait_s=0.05))
    names = []
    for call in log.calls:
        sql = str(call[1]) if len(call) > 1 else ""
        if "pg_advisory_lock" in sql:
            names.append("lock")
        elif "pg_advisory_unlock" in sql:
            names.append("unlock")
        elif "TRUNCATE" in sql:
            names.append("truncate")
        elif call[0].startswith("consumer-"):
            names.append(call[0])
    return names


def test_an_empty_read_model_over_an_empty_store_just_consumes() -> None:
    # A new stack: every replica finds nothing to replay, and none resets the shared consumer.
    assert start(messages=0, read_model_empty=True) == ["lock", "consumer-start", "unlock"]


def test_a_read_model_with_data_just_consumes() -> None:
    assert start(messages=10, read_model_empty=False) == ["lock", "consumer-start", "unlock"]


def test_an_emptied_read_model_is_rebuilt_while_the_lock_is_held() -> None:
    assert start(messages=10, read_model_empty=True) == [
        "lock",
        "consumer-stop",
        "truncate",
        "consumer-reset",
        "consumer-start",
        "unlock",
    ]


def test_the_lock_key_is_not_the_schema_lock() -> None:
    assert REBUILD_LOCK != 727274  # lab.store.pool serialises DDL with that one
