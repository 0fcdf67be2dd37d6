"""Unit tests of lab/trace on hand-made span files: the hops of a sync and an async trace, their
medians and p99s, the typical and p99 traces, the file format's edge cases; and the statement
names blog.tracing.statements gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blog.tracing.statements import summary as statement_name
from lab.trace.breakdown import breakdown
from lab.trace.join import join
from lab.trace.otlp import TraceFileError, read_spans, trace_files
from lab.trace.summary import summarize

T0 = 1_800_000_000_000_000_000  # ns since the epoch
KIND = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
CREATE = "/blog.v1.CommentService/CreateComment"

# (span id, parent id, service, name, kind, start ms, end ms, extra attributes)
Row = tuple[str, str, str, str, str, float, float, dict[str, Any]]
DB = {"db.system.name": "postgresql"}


def arrived(ms: float) -> dict[str, Any]:
    return {"lab.grpc.arrived_unix_nano": T0 + int(ms * 1e6)}


def bus(subject: str) -> dict[str, Any]:
    return {"messaging.destination.name": subject}


SYNC: list[Row] = [
    ("c1", "", "client", CREATE, "CLIENT", 0, 10, {}),
    ("s1", "c1", "comments", CREATE, "SERVER", 1.5, 9, arrived(1.0)),
    ("p1", "s1", "comments", "/blog.v1.PostService/GetPost", "CLIENT", 2, 5, {}),
    ("p2", "p1", "posts", "/blog.v1.PostService/GetPost", "SERVER", 2.6, 4.4, arrived(2.5)),
    ("p3", "p2", "posts", "SELECT posts", "CLIENT", 3, 4, DB),
    ("m1", "s1", "comments", "/blog.v1.ModerationService/Moderate", "CLIENT", 2, 6, {}),
    ("m2", "m1", "moderation", "/blog.v1.ModerationService/Moderate", "SERVER", 2.7, 5.5, {}),
    ("m3", "m2", "moderation", "INSERT decisions", "CLIENT", 3, 5, DB),
    ("w1", "s1", "comments", "connection wait", "INTERNAL", 6.2, 6.5, {}),
    ("i1", "s1", "comments", "INSERT comments", "CLIENT", 6.5, 8, DB),
]
CREATED = "blog.comment.created"
ASYNC: list[Row] = [
    ("c1", "", "client", CREATE, "CLIENT", 0, 4, {}),
    ("s1", "c1", "comments", CREATE, "SERVER", 1, 3.5, arrived(0.5)),
    ("i1", "s1", "comments", "INSERT comments known_posts outbox", "CLIENT", 1.5, 3, DB),
    ("w1", "s1", "comments", f"outbox wait {CREATED}", "INTERNAL", 3.2, 3.6, bus(CREATED)),
    ("b1", "s1", "comments", f"publish {CREATED}", "PRODUCER", 3.6, 5, bus(CREATED)),
    ("q1", "b1", "query", f"process {CREATED}", "CONSUMER", 4.8, 7, bus(CREATED)),
    ("q2", "q1", "query", f"apply {CREATED}", "INTERNAL", 5, 6.5, {}),
    ("q3", "q2", "query", "INSERT comment_views", "CLIENT", 5.5, 6, DB),
]


def line(trace_id: str, service: str, impl: str, rows: list[Row], scale: float = 1) -> str:
    """One OTLP JSON line (as the file exporter writes it) with `service`'s spans of `rows`."""

    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}

    spans = []
    for span_id, parent, svc, name, kind, start, end, extra in rows:
        if svc != service:
            continue
        attributes = dict(extra)
        if "lab.grpc.arrived_unix_nano" in attributes:  # scaled with the rest
            at = (attributes["lab.grpc.arrived_unix_nano"] - T0) * scale
            attributes["lab.grpc.arrived_unix_nano"] = T0 + int(at)
        span = {
            "traceId": trace_id,
            "spanId": f"{span_id:0>16}",
            "name": name,
            "kind": KIND[kind],
            "startTimeUnixNano": str(T0 + int(start * scale * 1e6)),
            "endTimeUnixNano": str(T0 + int(end * scale * 1e6)),
            "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
        }
        if parent:
            span["parentSpanId"] = f"{parent:0>16}"
        spans.append(span)
    resource = {"service.name": service, "lab.impl": impl}
    request = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": k, "value": value(v)} for k, v in resource.items()]
                },
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(request) + "\n"


def write(directory: Path, impl: str, traces: list[tuple[str, list[Row], float]]) -> None:
    """One file per service (as one per process), each trace a line of its own."""
    directory.mkdir(parents=True, exist_ok=True)
    services = {row[2] for _, rows, _ in traces for row in rows}
    for service in services:
        with open(directory / f"{service}-1.otlp.jsonl", "a") as out:
            for trace_id, rows, scale in traces:
                out.write(line(trace_id, service, impl, rows, scale))


@pytest.fixture
def sync_dir(tmp_path: Path) -> Path:
    # Two traces of the same shape, the second twice as slow.
    write(tmp_path / "sync", "sync", [("a" * 32, SYNC, 1.0), ("b" * 32, SYNC, 2.0)])
    return tmp_path / "sync"


def hops_of(directory: Path) -> dict[str, tuple[float, float, int]]:
    (op,) = breakdown(join(read_spans(trace_files(directory))))
    return {h.hop: (h.p50_ms, h.p99_ms, h.traces) for h in op.hops}


def test_sync_hops_from_the_client_through_each_peer_to_each_statement(sync_dir: Path) -> None:
    hops = hops_of(sync_dir)
    # Median of the two traces (10 and 20 ms: 15), p99 by nearest rank (the slower one).
    assert hops["response"] == (15.0, 20.0, 2)
    assert hops["client → comments: way there"] == (1.5, 2.0, 2)
    assert hops["comments → client: way back"] == (1.5, 2.0, 2)
    assert hops["queueing before the handler [comments]"] == (0.75, 1.0, 2)
    assert hops["peer call comments → posts GetPost"] == (4.5, 6.0, 2)
    assert hops["peer call comments → moderation Moderate"] == (6.0, 8.0, 2)
    assert hops["comments → posts: way there"][1] == pytest.approx(1.0)
    assert hops["posts → comments: way back"][1] == pytest.approx(1.2)
    assert hops["queueing before the handler [posts]"][1] == pytest.approx(0.2)
    # Moderate's server span has no arrival stamp: no queueing can be told apart.
    assert hops["queueing before the handler [moderation]"] == (0.0, 0.0, 2)
    assert hops["statement [posts] SELECT posts"] == (1.5, 2.0, 2)
    assert hops["statement [comments] INSERT comments"] == (2.25, 3.0, 2)
    assert hops["connection wait [comments]"] == (0.45, 0.6, 2)
    # Handler time no span explains: comments 7.5 - (2..6 and 6.2..8) = 1.7 ms in the fast trace.
    assert hops["unexplained gap [comments handler]"] == (2.55, 3.4, 2)
    assert hops["unexplained gap [posts handler]"][1] == pytest.approx(1.6)
    assert hops["unexplained gap (all)"][0] == pytest.approx((3.3 + 6.6) / 2)
    assert "until the read model" not in hops


def test_table_order_typical_and_p99_traces_and_the_summary_file(
    sync_dir: Path, tmp_path: Path
) -> None:
    (op,) = breakdown(join(read_spans(trace_files(sync_dir))))
    names = [h.hop for h in op.hops]
    assert names[0] == "response"  # totals first
    assert names[-1].startswith("unexplained gap")  # gaps last
    assert names.index("client → comments: way there") < names.index(
        "statement [posts] SELECT posts"
    )
    assert (op.typical_trace, op.p99_trace) == ("a" * 32, "b" * 32)

    out = tmp_path / "out"
    summary = summarize(sync_dir, out)
    written = json.loads((out / "trace-summary.json").read_text())
    assert written["traces"] == 2 and written["files"] == 4
    (first,) = written["operations"]
    assert (first["impl"], first["operation"], first["traces"]) == ("sync", "CreateComment", 2)
    assert [w["which"] for w in first["waterfalls"]] == ["typical", "p99"]
    # The same spans give the same figure bytes.
    figure = (out / first["waterfalls"][0]["file"]).read_bytes()
    summarize(sync_dir, tmp_path / "again")
    assert (tmp_path / "again" / first["waterfalls"][0]["file"]).read_bytes() == figure
    assert summary.operations[0].hops[0].hop == "response"


def test_async_hops_through_the_outbox_and_the_bus_to_the_read_model(tmp_path: Path) -> None:
    write(tmp_path, "async", [("c" * 32, ASYNC, 1.0)])
    hops = hops_of(tmp_path)
    assert hops["response"][0] == 4.0
    assert hops["until the read model"][0] == 6.5
    assert hops[f"outbox wait [comments] {CREATED}"][0] == pytest.approx(0.4)
    assert hops[f"publish [comments] {CREATED}"][0] == pytest.approx(1.4)
    assert hops[f"bus delivery {CREATED} → query"][0] == pytest.approx(1.2)
    assert hops[f"consumer processing [query] {CREATED}"][0] == pytest.approx(2.2)
    assert hops[f"read-model apply {CREATED}"][0] == pytest.approx(1.5)
    # The handler's gap leaves out the relay's spans (they run after it answered).
    assert hops["unexplained gap [comments handler]"][0] == pytest.approx(1.0)
    assert hops["unexplained gap [query consumer]"][0] == pytest.approx(0.7)
    assert hops["unexplained gap [query apply]"][0] == pytest.approx(1.0)


def test_traces_a_service_started_are_left_out_when_the_client_traced(tmp_path: Path) -> None:
    seeding = [r for r in SYNC if r[0] != "c1"]  # the same request, from an untraced client
    write(tmp_path, "sync", [("a" * 32, SYNC, 1.0), ("9" * 32, seeding, 1.0)])
    (op,) = breakdown(join(read_spans(trace_files(tmp_path))))
    assert (op.traces, op.not_from_client) == (1, 1)
    only_services = tmp_path / "only"
    write(only_services, "sync", [("9" * 32, seeding, 1.0)])  # e.g. a chaos run: all of them
    (op,) = breakdown(join(read_spans(trace_files(only_services))))
    assert (op.traces, op.not_from_client) == (1, 0)


def test_a_missing_parent_is_counted_and_left_out(tmp_path: Path) -> None:
    # Moderation's file lost (a killed process): its statement's parent is missing.
    rows = [r for r in SYNC if r[0] != "m2"]
    write(tmp_path, "sync", [("d" * 32, SYNC, 1.0), ("e" * 32, rows, 1.0)])
    (op,) = breakdown(join(read_spans(trace_files(tmp_path))))
    assert (op.traces, op.incomplete) == (1, 1)


def test_a_torn_last_line_is_skipped_and_a_foreign_file_is_an_error(tmp_path: Path) -> None:
    good = line("f" * 32, "comments", "sync", SYNC)
    (tmp_path / "a.otlp.jsonl").write_text(good + good[: len(good) // 2])  # killed mid-write
    assert len(read_spans(trace_files(tmp_path))) == 5  # the first line's comments spans
    (tmp_path / "b.otlp.jsonl").write_text('{"hello": 1}\n')
    with pytest.raises(TraceFileError, match="b.otlp.jsonl:1"):
        read_spans(trace_files(tmp_path))


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("SELECT id, title FROM posts WHERE id = $1", "SELECT posts"),
        (
            "WITH inserted AS (INSERT INTO comments (id) SELECT $1 WHERE EXISTS (SELECT 1 FROM "
            "known_posts WHERE id = $2)), queued AS (INSERT INTO outbox (event_id) SELECT $3 "
            "FROM inserted) SELECT * FROM inserted",
            "INSERT comments known_posts outbox",
        ),
        ("UPDATE comments SET status = $2 WHERE id = $1 RETURNING id", "UPDATE comments"),
        ("DELETE FROM outbox WHERE id = ANY($1::bigint[])", "DELETE outbox"),
        ("SELECT 1", "SELECT"),
        (
            "INSERT INTO comment_views (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET status = 1",
            "INSERT comment_views",
        ),
    ],
)
def test_statement_names(query: str, name: str) -> None:
    assert statement_name(query) == name
