"""A client built from the protos before PostView.completeness was added
(tests/fixtures/protos-before-completeness/): compiled into a throw-away directory and run in its
own process (its blog/v1/api.proto cannot share a protobuf descriptor pool with today's), so
the tests see what a client built before the change sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

OLD_PROTOS = Path(__file__).resolve().parent / "fixtures" / "protos-before-completeness"
API = "blog/v1/api.proto"

# Run with `python -S` (no site: the editable install's finder, which would find today's blog/,
# is not loaded) and PYTHONPATH = the generated code, then this environment's packages.
SCRIPT = r"""
import json, sys
import grpc
from blog.v1 import api_pb2, api_pb2_grpc
assert "completeness" not in api_pb2.PostView.DESCRIPTOR.fields_by_name  # the old API
posts_addr, comments_addr, query_addr, action, *args = sys.argv[1:]
posts = api_pb2_grpc.PostServiceStub(grpc.insecure_channel(posts_addr))
comments = api_pb2_grpc.CommentServiceStub(grpc.insecure_channel(comments_addr))
query = api_pb2_grpc.QueryServiceStub(grpc.insecure_channel(query_addr))

def view(v):
    return {"post_id": v.post.id, "title": v.post.title,
            "comments": [[c.content, c.status] for c in v.comments]}

out = {}
if action == "write-and-read":
    # With the post's token, as a careful client of the async style comments (without it, the
    # async `wait` policy refuses a comment whose PostCreated has not arrived yet: a race).
    post = posts.CreatePost(api_pb2.CreatePostRequest(title="old client", body="b"), timeout=5)
    comment = comments.CreateComment(
        api_pb2.CreateCommentRequest(post_id=post.id, content="from an old client",
                                     consistency_token=post.consistency_token), timeout=5)
    out = {"post_id": post.id, "comment_id": comment.id, "status": comment.status}
elif action == "view":
    out = view(query.GetPostView(api_pb2.GetPostViewRequest(post_id=args[0]), timeout=5))
elif action == "page":
    page = query.ListPostViews(api_pb2.ListPostViewsRequest(page_size=5), timeout=5)
    out = {"views": [view(v) for v in page.views]}
print(json.dumps(out))
"""


def compile_old_api(out: Path, descriptor_set: Path | None = None) -> Path:
    """Generate the old API's Python code into `out` (and, if asked, its descriptor set)."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = str(Path(grpc_tools.__file__).parent / "_proto")
    args = ["protoc", f"-I{OLD_PROTOS}", f"-I{well_known}"]
    args += [f"--python_out={out}", f"--grpc_python_out={out}"]
    if descriptor_set is not None:
        args += [f"--descriptor_set_out={descriptor_set}", "--include_imports"]
    out.mkdir(parents=True, exist_ok=True)
    if protoc.main([*args, API]) != 0:
        raise RuntimeError("protoc failed on the old API")
    for package in (out / "blog", out / "blog" / "v1"):
        (package / "__init__.py").touch()
    return out


def old_api_descriptor(tmp: Path) -> descriptor_pb2.FileDescriptorProto:
    """The old api.proto as a FileDescriptorProto (compiled, never imported)."""
    descriptors = tmp / "old-api.desc"
    compile_old_api(tmp / "old-code", descriptors)
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes())
    (found,) = [f for f in files.file if f.name == API]
    return found


def run_old_client(code: Path, stack: dict[str, Any], action: str, *args: str) -> dict[str, Any]:
    """Run the old client's `action` against `stack` (stack.json's contents); its JSON reply."""
    services = stack["services"]
    addresses = [services[name][0] for name in ("posts", "comments", "query")]
    packages = [sysconfig.get_paths()[kind] for kind in ("purelib", "platlib")]
    result = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT, *addresses, action, *args],
        env={
            "PYTHONPATH": os.pathsep.join([str(code), *packages]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": "/usr/bin:/bin",
        },
        cwd=code,  # not the repository: `-c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply
