import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMENT_STATUS_UNSPECIFIED: _ClassVar[CommentStatus]
    PENDING: _ClassVar[CommentStatus]
    APPROVED: _ClassVar[CommentStatus]
    REJECTED: _ClassVar[CommentStatus]

class ViewCompleteness(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIEW_COMPLETENESS_UNSPECIFIED: _ClassVar[ViewCompleteness]
    VIEW_COMPLETE: _ClassVar[ViewCompleteness]
    VIEW_WITHOUT_COMMENTS: _ClassVar[ViewCompleteness]
COMMENT_STATUS_UNSPECIFIED: CommentStatus
PENDING: CommentStatus
APPROVED: CommentStatus
REJECTED: CommentStatus
VIEW_COMPLETENESS_UNSPECIFIED: ViewCompleteness
VIEW_COMPLETE: ViewCompleteness
VIEW_WITHOUT_COMMENTS: ViewCompleteness

class Post(_message.Message):
    __slots__ = ("id", "title", "body", "created_at", "consistency_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    body: str
    created_at: _timestamp_pb2.Timestamp
    consistency_token: str
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consistency_token: _Optional[str] = ...) -> None: ...

class Comment(_message.Message):
    __slots__ = ("id", "post_id", "content", "status", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    post_id: str
    content: str
    status: CommentStatus
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., post_id: _Optional[str] = ..., content: _Optional[str] = ..., status: _Optional[_Union[CommentStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePostRequest(_message.Message):
    __slots__ = ("title", "body", "request_id")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    title: str
    body: str
    request_id: str
    def __init__(self, title: _Optional[str] = ..., body: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetPostRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListPostsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostsResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCommentRequest(_message.Message):
    __slots__ = ("post_id", "content", "request_id", "consistency_token")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    content: str
    request_id: str
    consistency_token: str
    def __init__(self, post_id: _Optional[str] = ..., content: _Optional[str] = ..., request_id: _Optional[str] = ..., consistency_token: _Optional[str] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    def __init__(self, post_id: _Optional[str] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("comments",)
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[Comment]
    def __init__(self, comments: _Optional[_Iterable[_Union[Comment, _Mapping]]] = ...) -> None: ...

class PostView(_message.Message):
    __slots__ = ("post", "comments", "completeness")
    POST_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    COMPLETENESS_FIELD_NUMBER: _ClassVar[int]
    post: Post
    comments: _containers.RepeatedCompositeFieldContainer[Comment]
    completeness: ViewCompleteness
    def __init__(self, post: _Optional[_Union[Post, _Mapping]] = ..., comments: _Optional[_Iterable[_Union[Comment, _Mapping]]] = ..., completeness: _Optional[_Union[ViewCompleteness, str]] = ...) -> None: ...

class GetPostViewRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    def __init__(self, post_id: _Optional[str] = ...) -> None: ...

class ListPostViewsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostViewsResponse(_message.Message):
    __slots__ = ("views", "next_page_token")
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    views: _containers.RepeatedCompositeFieldContainer[PostView]
    next_page_token: str
    def __init__(self, views: _Optional[_Iterable[_Union[PostView, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
