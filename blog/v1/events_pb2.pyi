import datetime

from blog.v1 import api_pb2 as _api_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("event_id", "event_type", "occurred_at", "producer", "aggregate_id", "schema_version", "payload")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    occurred_at: _timestamp_pb2.Timestamp
    producer: str
    aggregate_id: str
    schema_version: int
    payload: bytes
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., aggregate_id: _Optional[str] = ..., schema_version: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class PostCreated(_message.Message):
    __slots__ = ("post",)
    POST_FIELD_NUMBER: _ClassVar[int]
    post: _api_pb2.Post
    def __init__(self, post: _Optional[_Union[_api_pb2.Post, _Mapping]] = ...) -> None: ...

class CommentCreated(_message.Message):
    __slots__ = ("comment",)
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    comment: _api_pb2.Comment
    def __init__(self, comment: _Optional[_Union[_api_pb2.Comment, _Mapping]] = ...) -> None: ...

class CommentModerated(_message.Message):
    __slots__ = ("comment_id", "post_id", "status", "reason")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    comment_id: str
    post_id: str
    status: _api_pb2.CommentStatus
    reason: str
    def __init__(self, comment_id: _Optional[str] = ..., post_id: _Optional[str] = ..., status: _Optional[_Union[_api_pb2.CommentStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class CommentUpdated(_message.Message):
    __slots__ = ("comment", "reason")
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    comment: _api_pb2.Comment
    reason: str
    def __init__(self, comment: _Optional[_Union[_api_pb2.Comment, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
