"""`lab bench --exposition-cost PAIRS`: what watching a run with Prometheus costs the system
under test (docs/METHOD.md, Watching a run live).

Benchmark runs taken in alternation (off, on, on, off, ...: a drift of the machine reaches both
sides): `off` with no exposition at all (`--no-metrics`: no /metrics, no per-RPC recording, no
bus exporter), `on` with everything this lab offers an operator (`--prometheus`: every process's
/metrics scraped each second by a real Prometheus). Then the two sides compared as `lab
compare` compares two versions of the code: latency per operation, CPU per component (the bus
exporter and Prometheus appear as components of their own), database transactions, each a
difference only beyond both sides' spread.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime

from benchmarks.suite.context import BenchConfig
from lab.cli.common import CliError
from lab.stack.config import PrometheusSettings, StackOptions


def sides(pairs: int) -> list[str]:
    """off on, on off, off on, ...: each side first in half of the pairs."""
    return [side for n in range(pairs) for side in (("off", "on") if n % 2 == 0 else ("on", "off"))]


def run_exposition_cost(base: BenchConfig, pairs: int, prometheus: PrometheusSettings) -> int:
    # Imported here: the suite and the report load what other commands need not.
    from benchmarks.suite.suite import run_bench
    from lab.report.comparison import render
    from lab.report.pooled import pool
    from lab.report.sources import BenchRun, ReportError, read_run

    runs: dict[str, list[str]] = {"off": [], "on": []}
    for n, side in enumerate(sides(pairs), 1):
        stack = (
            StackOptions(metrics=True, prometheus=prometheus)
            if side == "on"
            else StackOptions(metrics=False)
        )
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        print(f"=== exposition cost: run {n}/{2 * pairs}, exposition {side} ({run_id})", flush=True)
        run_dir = run_bench(replace(base, stack=stack, run_id=run_id))
        runs[side].append(run_dir.name)
    command = (
        f"lab compare --results-dir {base.results_dir} --before {' '.join(runs['off'])} "
        f"--after {' '.join(runs['on'])}"
    )
    try:
        before = [read_run(base.results_dir / r) for r in runs["off"]]
        after = [read_run(base.results_dir / r) for r in runs["on"]]
        off = [r for r in before if isinstance(r, BenchRun)]
        on = [r for r in after if isinstance(r, BenchRun)]
        text = render(off, on, pool(off), pool(on), command)
    except ReportError as error:
        raise CliError(str(error)) from None
    out = base.results_dir / f"exposition-cost-{runs['off'][0]}.md"
    out.write_text(text)
    sys.stdout.write(text)
    print(f"\nbefore = exposition off, after = on (scraped each second); written to {out}")
    print(f"again from the runs: {command}")
    return 0
