"""Collapsed stacks (py-spy --format raw) to top frames and a flame graph: pure functions."""

from __future__ import annotations

import pytest

from benchmarks.profiling import collapsed, flamegraph

ENTRY = "<module> (lab/x.py:9);main (lab/x.py:8)"
RAW = f"""\
{ENTRY};run (blog/rpc/process.py:3);handle (lab/x.py:20);f (lib/y.py:5) 30
{ENTRY};run (blog/rpc/process.py:3);handle (lab/x.py:21) 10
{ENTRY};select (selectors.py:468) 60
not a sample line
"""


def test_top_self_merges_lines_of_one_function() -> None:
    stacks = collapsed.parse(RAW)
    assert sum(stacks.values()) == 100
    assert collapsed.top_self(stacks, 2) == [("select (selectors.py)", 0.6), ("f (lib/y.py)", 0.3)]


def test_top_inclusive_counts_own_code_once_per_stack_without_the_entry() -> None:
    stacks = collapsed.parse(RAW)
    top = collapsed.top_inclusive(stacks, ("lab/",))
    assert top == [("handle (lab/x.py)", pytest.approx(0.4))]


def test_flame_graph_has_a_box_per_function_with_its_share() -> None:
    svg = flamegraph.render(collapsed.parse(RAW), "posts-0")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<title>handle (lab/x.py) (40 samples, 40.0%)</title>" in svg
    assert "<title>all (100 samples, 100.0%)</title>" in svg
    assert flamegraph.render(collapsed.parse(""), "idle").count("<rect") == 0
