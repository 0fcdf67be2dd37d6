"""blog.convert's timestamps agree with protobuf's own conversion (which they replace)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from blog.convert import from_timestamp, timestamp


@pytest.mark.parametrize(
    "value",
    [
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch
        datetime(2026, 11, 25, 18, 30, 1, 123456, tzinfo=UTC),
        datetime(2030, 1, 1),  # naive: UTC, as protobuf reads it
        datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))),
    ],
)
def test_timestamp_matches_protobuf(value: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value)
    assert timestamp(value) == expected
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    assert from_timestamp(timestamp(value)) == aware
