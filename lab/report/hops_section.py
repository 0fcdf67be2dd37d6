"""Where each millisecond goes (docs/METHOD.md, Where each millisecond goes): from a tracing
run (`lab bench --trace-sample 0,S,...`), what tracing cost at each share against none, and the
per-hop breakdown of one traced share with its waterfalls (copied beside the report's figures,
since they are drawn by `lab trace`'s own code when the run ends)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from lab.plotting import Drawn
from lab.report import fmt
from lab.report.sources import Run
from lab.report.tables import table

ENOUGH_TRACES = 100  # per operation: below this a hop's p99 is its slowest one or two


def breakdown_share(trace: Run) -> tuple[str, dict[str, Any]] | None:
    """The smallest traced share whose every operation has enough traces (its overhead is the
    least), else the share with the most traces; with its trace-summary.json."""
    found = []
    for share, name in sorted(trace.summary.get("hops", {}).items(), key=lambda kv: float(kv[0])):
        path = trace.path / name / "trace-summary.json"
        try:
            found.append((share, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    if not found:
        return None
    for share, doc in found:
        ops = doc.get("operations", [])
        if ops and min(o["traces"] for o in ops) >= ENOUGH_TRACES:
            return share, doc
    return max(found, key=lambda f: f[1].get("traces", 0))


def overhead_rows(trace: Run) -> list[list[str]]:
    rows = []
    for impl, shares in trace.summary.get("figures", {}).items():
        for share in shares:
            cpu = share.get("services_cpu_s_per_1000")
            vs = share.get("vs_first", {})
            p99 = _ratios(vs, "p99_ms")
            rows.append(
                [
                    impl,
                    f"{share['sample']:g}",
                    str(share["runs"]),
                    fmt.spread(cpu) if cpu else "-",
                    _vs(vs.get("services_cpu_s_per_1000")),
                    p99,
                ]
            )
    return rows


def _vs(found: dict[str, Any] | None) -> str:
    if not found:
        return "-"
    verdict = {"higher": "higher ✓", "lower": "lower ✓", "~": "~", "n/a": "n/a"}
    return f"×{found['ratio']:.2f} ({verdict.get(found['verdict'], found['verdict'])})"


def _ratios(vs: dict[str, Any], suffix: str) -> str:
    parts = [
        f"{name.split()[0]} {_vs(found)}"
        for name, found in sorted(vs.items())
        if name.endswith(suffix)
    ]
    return "; ".join(parts) or "-"


def hop_tables(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for op in doc.get("operations", []):
        left_out = [
            f"{op['incomplete']} incomplete" if op.get("incomplete") else "",
            f"{op['not_from_client']} not from the load generator"
            if op.get("not_from_client")
            else "",
        ]
        note = ", ".join(x for x in left_out if x)
        out += [
            f"**{op['impl']} {op['operation']}**: {fmt.count(op['traces'])} traces"
            + (f" ({note}: left out)" if note else ""),
            "",
        ]
        out += table(
            ["hop", "kind", "p50 ms", "p99 ms", "in traces"],
            [
                [
                    h["hop"],
                    h["category"],
                    fmt.num(h["p50_ms"]),
                    fmt.num(h["p99_ms"]),
                    fmt.count(h["traces"]),
                ]
                for h in op["hops"]
            ],
        )
    return out


def waterfalls(trace: Run, share_dir: str, doc: dict[str, Any], out_dir: Path) -> list[Drawn]:
    """Copy the breakdown's waterfalls into the report's figures folder."""
    drawn = []
    for op in doc.get("operations", []):
        for w in op.get("waterfalls", []):
            source = trace.path / share_dir / w["file"]
            if not source.exists():
                continue
            shutil.copyfile(source, out_dir / w["file"])
            which = "a typical" if w["which"] == "typical" else "the p99"
            alt = f"{op['impl']} {op['operation']}: {which} trace, {w['total_ms']:.1f} ms"
            drawn.append(Drawn(w["file"], alt))
    return drawn


def section(trace: Run, figures: list[Drawn], figures_rel: str) -> list[str]:
    doc = trace.summary
    rate = fmt.num(float(doc.get("rate") or 0))
    out = [
        f"Tracing run `{trace.run_id}`: {doc.get('scenario')} at {rate} "
        "requests/s on fresh stacks, each share of traced requests against none, interleaved. "
        "Services' CPU: the four services' CPU seconds per 1,000 requests; each figure against "
        "tracing off as the ratio of medians, ✓ where the ranges do not overlap, ~ where they do.",
        "",
        *table(
            ["variant", "share traced", "runs", "services' CPU s / 1,000", "vs off", "p99 vs off"],
            overhead_rows(trace),
        ),
    ]
    chosen = breakdown_share(trace)
    if chosen is None:
        return out + ["*No per-hop breakdown in this run (no traced share).*", ""]
    share, hops = chosen
    out += [
        f"Per hop at a traced share of {share} ({fmt.count(hops.get('traces', 0))} traces): "
        "median and p99 of each hop over an operation's traces (nearest rank), in the order a "
        "request meets them; *gap* is the time no span explains. Async traces run until the last "
        "consumer has applied the event, so they include the bus and the read model.",
        "",
        *hop_tables(hops),
    ]
    for d in figures:
        out += [f"![{d.alt}]({figures_rel}/{d.file})", ""]
    return out
