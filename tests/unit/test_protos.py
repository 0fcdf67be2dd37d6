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
