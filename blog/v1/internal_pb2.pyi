from blog.v1 import api_pb2 as _api_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModerateRequest(_message.Message):
    __slots__ = ("comment_id", "post_id", "content")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    comment_id: str
    post_id: str
    content: str
    def __init__(self, comment_id: _Optional[str] = ..., post_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class ModerateResponse(_message.Message):
    __slots__ = ("status", "reason")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    status: _api_pb2.CommentStatus
    reason: str
    def __init__(self, status: _Optional[_Union[_api_pb2.CommentStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListCommentsForPostsRequest(_message.Message):
    __slots__ = ("post_ids",)
    POST_IDS_FIELD_NUMBER: _ClassVar[int]
    post_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, post_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListCommentsForPostsResponse(_message.Message):
    __slots__ = ("comments",)
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[_api_pb2.Comment]
    def __init__(self, comments: _Optional[_Iterable[_Union[_api_pb2.Comment, _Mapping]]] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ("reset_histograms",)
    RESET_HISTOGRAMS_FIELD_NUMBER: _ClassVar[int]
    reset_histograms: bool
    def __init__(self, reset_histograms: _Optional[bool] = ...) -> None: ...

class MetricsSnapshot(_message.Message):
    __slots__ = ("service", "counters", "histograms", "gauges")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class HistogramsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class GaugesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAMS_FIELD_NUMBER: _ClassVar[int]
    GAUGES_FIELD_NUMBER: _ClassVar[int]
    service: str
    counters: _containers.ScalarMap[str, int]
    histograms: _containers.ScalarMap[str, bytes]
    gauges: _containers.ScalarMap[str, float]
    def __init__(self, service: _Optional[str] = ..., counters: _Optional[_Mapping[str, int]] = ..., histograms: _Optional[_Mapping[str, bytes]] = ..., gauges: _Optional[_Mapping[str, float]] = ...) -> None: ...

class RebuildRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RebuildResponse(_message.Message):
    __slots__ = ("replay_until_seq",)
    REPLAY_UNTIL_SEQ_FIELD_NUMBER: _ClassVar[int]
    replay_until_seq: int
    def __init__(self, replay_until_seq: _Optional[int] = ...) -> None: ...
