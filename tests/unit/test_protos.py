"""The generated code in blog/v1 must match what protos/ produces now (run `make proto`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    fresh = _load_generator().generate(tmp_path)
    assert fresh, "no code generated"
    stale = []
    for path in fresh:
        committed = ROOT / path.relative_to(tmp_path)
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(committed.relative_to(ROOT)))
    committed_files = {
        p.relative_to(ROOT)
        for p in (ROOT / "blog" / "v1").rglob("*.py*")
        if "__pycache__" not in p.parts  # bytecode Python wrote on import, not committed
    }
    extra = committed_files - {p.relative_to(tmp_path) for p in fresh}
    assert not stale, f"stale generated files (run `make proto`): {stale}"
    assert not extra, f"generated files with no .proto behind them: {sorted(map(str, extra))}"


def test_public_contract_names() -> None:
    """The public contract: these names may not be renamed (fields may be added)."""
    from blog.v1 import api_pb2

    services = {
        s.name: [m.name for m in s.methods] for s in api_pb2.DESCRIPTOR.services_by_name.values()
    }
    assert {"CreatePost", "GetPost"} <= set(services["PostService"])
    assert {"CreateComment", "ListComments"} <= set(services["CommentService"])
    assert {"GetPostView", "ListPostViews"} <= set(services["QueryService"])
    assert api_pb2.DESCRIPTOR.package == "blog.v1"
    fields = {
        "CreatePostRequest": {"title", "body"},
        "Post": {"id", "title", "body", "created_at"},
        "CreateCommentRequest": {"post_id", "content"},
        "Comment": {"id", "post_id", "content", "status"},
        "GetPostViewRequest": {"post_id"},
        "PostView": {"post", "comments"},
        "ListPostViewsRequest": {"page_size", "page_token"},
        "ListPostViewsResponse": {"views", "next_page_token"},
    }
    for message, names in fields.items():
        assert names <= set(api_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name)
    assert list(api_pb2.CommentStatus.keys()) == [
        "COMMENT_STATUS_UNSPECIFIED",
        "PENDING",
        "APPROVED",
        "REJECTED",
    ]


def test_the_api_extends_the_one_before_view_completeness_compatibly(tmp_path: Path) -> None:
    """A client built from the protos before PostView.completeness keeps working: every
    message, field (number, type, label), enum value and method it knows is unchanged; the
    current API only adds."""
    from google.protobuf import descriptor_pb2

    from blog.v1 import api_pb2
    from tests.old_client import old_api_descriptor

    old = old_api_descriptor(tmp_path)
    new = descriptor_pb2.FileDescriptorProto()
    api_pb2.DESCRIPTOR.CopyToProto(new)
    assert old.package == new.package
    messages = {m.name: m for m in new.message_type}
    for message in old.message_type:
        fields = {f.number: f for f in messages[message.name].field}
        for field in message.field:
            now = fields[field.number]
            assert (now.name, now.type, now.label, now.type_name) == (
                field.name,
                field.type,
                field.label,
                field.type_name,
            ), f"{message.name}.{field.name} changed"
    enums = {e.name: {v.name: v.number for v in e.value} for e in new.enum_type}
    for enum in old.enum_type:
        assert {v.name: v.number for v in enum.value}.items() <= enums[enum.name].items()
    services = {s.name: {m.name: m for m in s.method} for s in new.service}
    for service in old.service:
        for method in service.method:
            now = services[service.name][method.name]
            assert (now.input_type, now.output_type) == (method.input_type, method.output_type)
    added = {f.name for f in messages["PostView"].field} - {
        f.name for m in old.message_type if m.name == "PostView" for f in m.field
    }
    assert added == {"completeness"}
