"""The compact copy of a run keeps the measurements the report needs and drops the logs."""

from __future__ import annotations

from pathlib import Path

from lab.report.compact import compact_copy


def test_compact_copy_keeps_measurements_only(tmp_path: Path) -> None:
    run = tmp_path / "results" / "20260101T000000Z"
    files = {
        "meta.json": "{}",
        "summary.json": "{}",
        "rep-1/sync/mixed@50/summary.json": "{}",
        "rep-1/sync/mixed@50/hdr-CreatePost-corrected.txt": "HISTFAAA",
        "rep-1/sync/mixed@50/hdr-CreatePost-service.txt": "HISTFAAA",
        "rep-1/async/mixed@50/hdr-server-visibility_lag_us.txt": "HISTFAAA",
        "rep-1/sync/mixed@50/profile/posts-0.svg": "<svg/>",
        "rep-1/sync/mixed@50/locust.log": "log",
        "rep-1/sync/mixed@50/generator-1.json": "{}",
        "sync/kill-db-posts/timeline.json": "{}",
        "sync/kill-db-posts/requests-7.jsonl": "{}",
    }
    for name, text in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    copy = compact_copy(run, tmp_path / "kept")
    assert copy == tmp_path / "kept" / run.name
    kept = {str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()}
    assert kept == {
        "meta.json",
        "summary.json",
        "rep-1/sync/mixed@50/summary.json",
        "rep-1/sync/mixed@50/hdr-CreatePost-corrected.txt",
        "rep-1/async/mixed@50/hdr-server-visibility_lag_us.txt",
        "rep-1/sync/mixed@50/profile/posts-0.svg",
        "sync/kill-db-posts/timeline.json",
    }
    (run / "summary.json").write_text('{"again": 1}')
    compact_copy(run, tmp_path / "kept")  # replaces the older copy
    assert (copy / "summary.json").read_text() == '{"again": 1}'
    # A copy made from itself (the committed copies reported again) is left as it is.
    assert compact_copy(copy, tmp_path / "kept") == copy
    assert (copy / "summary.json").read_text() == '{"again": 1}'
