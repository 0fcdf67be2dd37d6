"""How `lab report` writes numbers and reads raw files it may find in either of two shapes."""

from __future__ import annotations

import json
from pathlib import Path

from lab.report import fmt
from lab.report.sources import Run, read_timeline


def test_a_shortfall_never_rounds_up_to_100_percent() -> None:
    assert fmt.share(0.996) == "99.6 %"
    assert fmt.share(0.9999) == "99.9 %"
    assert fmt.share(1.0) == "100 %"
    assert fmt.share(0.004) == "0.4 %"
    assert fmt.share(0.0) == "0 %"
    assert fmt.share(None) == "-"


def test_a_spread_is_median_with_its_range() -> None:
    s = {"median": 4.2, "min": 4.0, "max": 4.4, "n": 3, "values": [4.0, 4.2, 4.4]}
    assert fmt.spread(s, "ms") == "4.20 [4.00–4.40] ms"
    assert fmt.spread({**s, "n": 1}, "ms") == "4.20 ms"  # one repetition: no range to show
    assert fmt.spread({"median": 29.0, "min": 28.0, "max": 30.0, "n": 2}, counts=True) == (
        "29 [28–30]"
    )
    assert fmt.spread(None) == "-"


def test_numbers_keep_about_three_significant_figures() -> None:
    assert [fmt.num(x) for x in (1234.5, 12.34, 1.234, 0.1234, 0.001234)] == [
        "1,234",
        "12.3",
        "1.23",
        "0.123",
        "0.0012",
    ]


def test_a_timeline_is_read_from_its_repetitions_json(tmp_path: Path) -> None:
    run = Run("r", "chaos", tmp_path, {}, {})
    d = tmp_path / "async" / "kill-db-posts" / "rep-2"
    d.mkdir(parents=True)
    assert read_timeline(run, "async", "kill-db:posts", 2) is None  # no file: said, not raised
    row = {
        "second": 0,
        "op": "GetPost",
        "requests": 2,
        "ok": 1,
        "errors": {},
        "availability": 0.5,
        "p50_ms": 1.5,
        "p99_ms": 2.5,
    }
    (d / "timeline.json").write_text(json.dumps({"rows": [row]}))
    assert read_timeline(run, "async", "kill-db:posts", 2) == [
        {"second": 0, "op": "GetPost", "requests": 2, "availability": 0.5, "p99_ms": 2.5}
    ]
    assert read_timeline(run, "async", "kill-db:posts", 1) is None  # another repetition's
