"""The old entry point of `lab bench`, kept while its importers move (labcli.main,
tests/unit/test_openloop.py): it re-exports what they use from the modules that hold it now.
Import from those instead; this module goes once nothing imports it."""

from __future__ import annotations

from benchmarks.suite.context import BenchConfig
from benchmarks.suite.profiles import PROFILES
from benchmarks.suite.suite import run_bench
from benchmarks.suite.sweep import capacity, next_rate
from benchmarks.suite.table import table

__all__ = ["PROFILES", "BenchConfig", "capacity", "next_rate", "run_bench", "table"]
