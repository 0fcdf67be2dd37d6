"""The overload section (docs/METHOD.md, Overload): per base rate and variant, what a spike to
twice C did and how long each took to be itself again, with a timeline figure each (drawn
again from the run's timeline.json by the experiment's own figure code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.chaos.overload.figure import draw
from lab.chaos.overload.timeline import GOOD_SHARE, RECOVERY_WINDOW_S
from lab.plotting import Drawn, safe, with_style
from lab.report import fmt
from lab.report.overload_read import judged, timeline_of
from lab.report.sources import Run
from lab.report.tables import table


def rows(overload: Run) -> list[list[str]]:
    out = []
    for e in overload.summary.get("experiments", []):
        f = judged(overload, e)
        total = e.get("audit", {}).get("total", {})
        out.append(
            [
                f"{e['base']:g} C = {e['base_rate']:.0f}/s",
                e["impl"],
                _recovery(f),
                f"{f.get('peak_in_flight', '-')}",
                "-" if f.get("peak_backlog") is None else f"{f['peak_backlog']:,}",
                f"{fmt.seconds(f.get('drain_s'))} / {fmt.seconds(f.get('predicted_drain_s'))}",
                _amplification(f),
                fmt.ms(f.get("generator_lag_p99_ms"))
                + (" BEHIND" if f.get("generator_behind") else ""),
                f"{total.get('lost', 0)} / {total.get('duplicated', 0)}",
            ]
        )
    return out


def _generator(overload: Run) -> str:
    """What the generator ran as, when the runs say (docs/METHOD.md, Overload)."""
    seen = {
        (g.get("engine", "locust"), g["processes"], g.get("scheduler") or "other", g["niceness"])
        for e in overload.summary.get("experiments", [])
        if (g := e.get("generator"))
    }
    if not seen:
        return ""
    said = "; ".join(
        f"{engine}, {p} process(es), scheduler {sched}, niceness {n}"
        for engine, p, sched, n in sorted(seen)
    )
    return f" The generator ran as {said} (the stack at 0)."


def _recovery(f: dict[str, Any]) -> str:
    if f.get("overloaded_at_base"):
        back = f.get("recovery_s")
        return f"{'never' if back is None else fmt.seconds(back)} (beyond it at the base rate)"
    return "never (metastable)" if f.get("metastable") else fmt.seconds(f.get("recovery_s"))


def _amplification(f: dict[str, Any]) -> str:
    before, spike = f.get("attempts_before"), f.get("attempts_spike")
    if not before or not spike:
        return "-"
    return f"{fmt.num(before)} → {fmt.num(spike)}"


def section(overload: Run, figures: list[Drawn], figures_rel: str) -> list[str]:
    capacity = overload.summary.get("capacity")
    source = overload.meta.get("config", {}).get("capacity_source", "")
    out = [
        f"C = {fmt.num(float(capacity or 0))} requests/s (plain sync's capacity, from "
        f"{source}). Each variant at a base rate, then a spike to twice C for the profile's "
        "spike length, then the base rate again. Recovery: from the spike's end to the first "
        f"second that starts {RECOVERY_WINDOW_S} seconds whose requests, pooled, were ≥ "
        f"{GOOD_SHARE:.0%} answered within the SLO; metastable: not back while the load was at a"
        " base it had served before the spike (beyond it at the base rate: the "
        f"{RECOVERY_WINDOW_S} seconds before the spike's last one were not; that last one is "
        "answered in the spike's queue). Drain: until the requests in "
        "flight (and async's bus backlog) are back to their level before the spike, against the"
        " excess the spike offered over the spare capacity (C − base). Attempts: server RPCs "
        "per client request before → during the spike (retries show here). Generator lag: the "
        "p99 of the generator's send lag over every request of the spike, pooled; BEHIND beyond"
        " the benchmark's bound (the spike was not delivered as scheduled: not the system's "
        "behaviour)." + _generator(overload),
        "",
        *table(
            [
                "base",
                "variant",
                "recovery",
                "peak in flight",
                "peak backlog",
                "drain / predicted",
                "attempts per request",
                "generator lag p99",
                "lost / duplicated",
            ],
            rows(overload),
        ),
    ]
    for d in figures:
        if d.file:
            out += [f"![{d.alt}]({figures_rel}/{d.file})", ""]
    return out


def draw_all(overload: Run, out_dir: Path) -> list[Drawn]:
    drawn = []
    for e in overload.summary.get("experiments", []):
        seconds = timeline_of(overload, e)
        if seconds is None:
            continue
        times = e.get("times", {})
        if times.get("spike_at") is None or times.get("back_at") is None:
            continue
        spike_s = times["back_at"] - times["spike_at"]
        title = f"{e['impl']}: {e['base']:g} C -> {e['spike']:g} C -> {e['base']:g} C"
        name = safe(f"overload-{e['impl']}-{e['base']:g}.png")
        with with_style():
            draw(seconds, spike_s, title, out_dir, name)
        drawn.append(Drawn(name, f"Overload timeline, {title}"))
    return drawn
