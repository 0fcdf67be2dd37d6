"""The report's first screen: for each variant one line per dimension, then "choose X when"
statements derived from those lines by rules written here, every comparison under the one rule
(lab/report/rule.py). A pure function of the evidence (lab/report/evidence.py):
tests/unit/test_report_verdict.py feeds it synthetic evidence and checks that each statement
follows the data, and flips when the data does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

from lab.report import fmt
from lab.report.evidence import Evidence
from lab.report.rule import NO_DIFFERENCE, NOT_ENOUGH, Range, group_clear, judge


@dataclass(frozen=True)
class Line:
    dimension: str
    text: str


@dataclass(frozen=True)
class Statement:
    """One "choose ... when ..." statement, with the rule that produced it."""

    rule: str  # e.g. "isolation"
    text: str


def lines(ev: Evidence, all_ev: Mapping[str, Evidence]) -> list[Line]:
    """One variant's figures, dimension by dimension, each beside how it compares."""
    out = []
    if ev.p50_ms:
        lowest = [
            op
            for op in ev.p50_ms
            if judge({k: e.p50_ms.get(op) for k, e in all_ev.items() if op in e.p50_ms}) == ev.impl
        ]
        p50 = median(r.value for r in ev.p50_ms.values())
        p99 = median(r.value for r in ev.p99_ms.values()) if ev.p99_ms else None
        out.append(
            Line(
                "latency",
                f"at {fmt.label_rate(ev.main_label)}: p50 {fmt.ms(p50)}, p99 {fmt.ms(p99)} "
                f"(medians over its operations); lowest beyond the spread on {len(lowest)} of "
                f"{len(ev.p50_ms)} operations",
            )
        )
    if ev.plateau is not None:
        out.append(
            Line(
                "throughput",
                f"at most {_range(ev.plateau)} requests/s answered within the SLO (plateau: "
                "the most goodput any offered rate sustained; 95 % CI)",
            )
        )
    if ev.capacity is not None or ev.capacity_bound:
        if ev.capacity:
            resolved = "" if ev.capacity_resolved else "; wider than the ±10 % goal"
            text = (
                f"{fmt.num(ev.capacity.value)} [{fmt.num(ev.capacity.low)}{fmt.DASH}"
                f"{fmt.num(ev.capacity.high)}] requests/s at the SLO (95 % CI{resolved})"
            )
        else:
            text = (
                f"{ev.capacity_bound} requests/s at the SLO (a bound: the load curve did not "
                "cross the SLO within its grid)"
            )
        out.append(Line("capacity", text))
    if ev.cpu_per_1000 is not None:
        out.append(Line("cost", f"{_range(ev.cpu_per_1000)} CPU seconds per 1,000 operations"))
    if ev.coupling_up is not None:
        out.append(
            Line(
                "failure isolation",
                f"coupling index {_pct_range(ev.coupling_up)} (share of other operations not up "
                f"while one part failed); {ev.faults_survived} of {ev.faults_tried} faults left "
                "every other operation up",
            )
        )
    if ev.gray_coupling_up is not None and ev.gray_coupling_availability is not None:
        out.append(
            Line(
                "gray faults",
                f"coupling index {_pct_range(ev.gray_coupling_up)} under slow, silent and lossy "
                "faults (other operations not up: too slow or failing); "
                f"{_pct_range(ev.gray_coupling_availability)} under 99 % successful",
            )
        )
    if ev.immediately_consistent and ev.p50_ms:
        out.append(Line("consistency", "every read is answered by the data's owner: no lag"))
    elif ev.lag_p99_ms is not None or ev.ryw_final_ms is not None:
        parts = []
        if ev.lag_p99_ms is not None:
            parts.append(f"visibility lag p99 {_range(ev.lag_p99_ms, 'ms')}")
        if ev.ryw_final_ms is not None:
            parts.append(f"a comment's final status seen {_range(ev.ryw_final_ms, 'ms')} (p50)")
        out.append(Line("consistency", "; ".join(parts)))
    if ev.recovery_s is not None:
        never = f"; {ev.never_recovered} never came back" if ev.never_recovered else ""
        out.append(
            Line(
                "recovery",
                f"the slowest operation back {_range(ev.recovery_s, 's')} after a restore{never}",
            )
        )
    if ev.overload:
        parts = []
        for base, o in sorted(ev.overload.items()):
            if o.overloaded_at_base:
                what = "beyond its capacity at the base rate already"
            elif o.metastable:
                what = "did not recover (metastable)"
            else:
                what = f"recovered in {fmt.seconds(o.recovery_s)}"
            parts.append(f"from {base:g} C: {what}" + ("" if o.valid else " (run flagged)"))
        out.append(Line("overload", "after a spike to twice C, " + "; ".join(parts)))
    if ev.lost_writes:
        out.append(Line("integrity", f"LOST {ev.lost_writes} acknowledged writes"))
    return out


def statements(evidence: Mapping[str, Evidence]) -> list[Statement]:
    """The "choose ... when ..." statements the evidence supports, each from its rule."""
    out: list[Statement] = []
    for rule in (_isolation, _consistency, _latency, _capacity, _overload, _patterns, _cost):
        made = rule(evidence)
        if made is not None:
            out.append(made)
    return out


def _why_not(verdict: str) -> str:
    """Why the one rule named no variant: too few repetitions, or no range clear of the rest."""
    if verdict == NOT_ENOUGH:
        return "one repetition: no spread to judge by"
    return "no variant's range is clear of every other's"


def _isolation(ev: Mapping[str, Evidence]) -> Statement | None:
    ranges = {k: e.coupling_up for k, e in ev.items() if e.coupling_up is not None}
    if len(ranges) < 2:
        return None
    best = judge(ranges)
    shown = ", ".join(f"{k} {_pct_range(r)}" for k, r in ranges.items())
    if best in (NO_DIFFERENCE, NOT_ENOUGH):
        return Statement(
            "isolation",
            f"Failure isolation does not separate the variants here (coupling index: {shown}; "
            f"{_why_not(best)}).",
        )
    return Statement(
        "isolation",
        f"Choose **{best}** when one part's failure must not take the others down: the lowest "
        f"coupling index, beyond the spread ({shown}).",
    )


def _consistency(ev: Mapping[str, Evidence]) -> Statement | None:
    at_once = [k for k, e in ev.items() if e.immediately_consistent and e.p50_ms]
    lagging = {k: e for k, e in ev.items() if not e.immediately_consistent and e.ryw_final_ms}
    if not at_once or not lagging:
        return None
    ranges = {k: e.ryw_final_ms for k, e in ev.items() if e.ryw_final_ms is not None}
    best = judge(ranges)
    lag = ", ".join(f"{k} {_range(e.ryw_final_ms, 'ms')}" for k, e in lagging.items())
    owners = [r for k in at_once if (r := ev[k].ryw_final_ms) is not None]
    others = [r for e in lagging.values() if (r := e.ryw_final_ms) is not None]
    if best in at_once or (best == NO_DIFFERENCE and group_clear(owners, others)):
        return Statement(
            "consistency",
            f"Choose **{' or '.join(at_once)}** when a client must see its own write in its "
            f"next read: the owners answer every read, while {lag} pass before "
            f"{'it sees' if len(lagging) == 1 else 'they see'} a comment's final status "
            "(p50, read-your-writes probe).",
        )
    shown = ", ".join(f"{k} {_range(r, 'ms')}" for k, r in ranges.items())
    return Statement(
        "consistency",
        f"Read-your-writes does not separate the variants at this load ({_why_not(best)}: "
        f"{shown}).",
    )


def _latency(ev: Mapping[str, Evidence]) -> Statement | None:
    ops = sorted({op for e in ev.values() for op in e.p50_ms})
    if len([e for e in ev.values() if e.p50_ms]) < 2 or not ops:
        return None
    wins: dict[str, list[str]] = {}
    for op in ops:
        w = judge({k: e.p50_ms.get(op) for k, e in ev.items() if e.p50_ms})
        if w not in (NO_DIFFERENCE, NOT_ENOUGH):
            wins.setdefault(w, []).append(op)
    if not wins:
        one = all(r.repetitions == 1 for e in ev.values() for r in e.p50_ms.values())
        return Statement(
            "latency",
            "Latency at moderate load does not separate the variants ("
            + (_why_not(NOT_ENOUGH) if one else "no operation's p50 range is clear of the others'")
            + ").",
        )
    best, won = max(wins.items(), key=lambda kv: len(kv[1]))
    label = next((e.main_label for e in ev.values() if e.main_label), None)
    return Statement(
        "latency",
        f"Choose **{best}** for the lowest latency at moderate load ({fmt.label_rate(label)}): "
        f"lower p50 beyond the spread on {fmt.join(won)}"
        + (f" ({len(won)} of {len(ops)} operations)." if len(won) < len(ops) else "."),
    )


def _capacity(ev: Mapping[str, Evidence]) -> Statement | None:
    """Throughput: the plateau first (it repeats; docs/METHOD.md, Does it repeat?), then the
    capacity at the p99 SLO, each by its 95 % CI."""
    plateaus = {k: e.plateau for k, e in ev.items() if e.plateau is not None}
    ranges = {k: e.capacity for k, e in ev.items() if e.capacity is not None}
    if len(plateaus) < 2 and len(ranges) < 2:
        return None
    text = ""
    if len(plateaus) >= 2:
        best = judge(plateaus, higher_is_better=True)
        shown = ", ".join(f"{k} {_range(r)}" for k, r in plateaus.items())
        if best in (NO_DIFFERENCE, NOT_ENOUGH):
            text = (
                f"The most goodput sustained (plateau) does not separate the variants "
                f"({_why_not(best)}: {shown} requests/s)."
            )
        else:
            text = (
                f"Choose **{best}** for throughput on the same cores: the most goodput "
                f"sustained (plateau), its 95 % CI clear of the others' ({shown} requests/s)."
            )
    if len(ranges) >= 2:
        best = judge(ranges, higher_is_better=True)
        shown = ", ".join(f"{k} {_range(r)}" for k, r in ranges.items())
        tail = ")."
        if best in (NO_DIFFERENCE, NOT_ENOUGH):
            said = f"Capacity at the p99 SLO does not separate the variants ({_why_not(best)}: "
            tail = f"){_pairs_apart(ev)}."
        elif text:
            said = f"At the p99 SLO **{best}** holds the highest rate beyond the CIs ("
        else:
            said = (
                f"Choose **{best}** for throughput on the same cores: the highest capacity at "
                "the SLO, its 95 % CI clear of the others' ("
            )
        text = f"{text} {said}{shown} requests/s{tail}".strip()
    return Statement("capacity", text)


def _pairs_apart(ev: Mapping[str, Evidence]) -> str:
    """The pairs whose capacity ratio's CI excludes 1 (a pair's own test, sharper than every
    variant's CI against every other's), said after the one rule's "does not separate":
    "; by a pair's own ratio, sync's is higher than async's (async ÷ sync 0.78 [0.63–0.97])"."""
    apart = []
    for second, e in ev.items():
        for first, r in e.capacity_over.items():
            if r.high < 1 or r.low > 1:
                higher, lower = (first, second) if r.high < 1 else (second, first)
                apart.append(
                    f"{higher}'s is higher than {lower}'s ({second} ÷ {first} {r.value:.2f} "
                    f"[{r.low:.2f}{fmt.DASH}{r.high:.2f}])"
                )
    if not apart:
        return ""
    return "; by a pair's own ratio (capacity section), " + fmt.join(apart)


def _overload(ev: Mapping[str, Evidence]) -> Statement | None:
    bases = sorted({b for e in ev.values() for b in e.overload})
    if bases and not any(o.valid for e in ev.values() for o in e.overload.values()):
        return Statement(
            "overload",
            "Overload: no verdict. Every spike run is flagged (its generator fell behind its "
            "schedule, or its audit failed), so none shows the system's behaviour.",
        )
    for base in reversed(bases):
        # A flagged run (generator behind, audit failed) is no evidence either way.
        outcomes = {
            k: e.overload[base]
            for k, e in ev.items()
            if base in e.overload and e.overload[base].valid
        }
        back = [k for k, o in outcomes.items() if not o.metastable and o.recovery_s is not None]
        stuck = [k for k, o in outcomes.items() if o.metastable]
        if back and stuck:
            return Statement(
                "overload",
                f"Choose **{' or '.join(back)}** when bursts beyond capacity are expected: after "
                f"a spike to twice C from {base:g} C it recovered, while {fmt.join(stuck)} did "
                "not while the load was back at its base (metastable).",
            )
    if bases:
        beyond = [
            f"{k} at {base:g} C"
            for base in bases
            for k, e in ev.items()
            if (o := e.overload.get(base)) is not None and o.valid and o.overloaded_at_base
        ]
        return Statement(
            "overload",
            "Overload does not separate the variants: at no base rate measured did one recover "
            "where another stayed down (metastable)."
            + (
                f" Beyond its capacity before the spike already (no recovery to judge): "
                f"{fmt.join(beyond)}."
                if beyond
                else ""
            ),
        )
    return None


def _patterns(ev: Mapping[str, Evidence]) -> Statement | None:
    plain, careful = ev.get("sync"), ev.get("sync-resilient")
    if plain is None or careful is None or not plain.coupling_up or not careful.coupling_up:
        return None
    better = judge({"sync": plain.coupling_up, "sync-resilient": careful.coupling_up})
    answered = ""
    if plain.coupling_answered is not None and careful.coupling_answered is not None:
        answered = (
            f"; counting partial answers (a view without its comments) as answers, "
            f"{fmt.share(careful.coupling_answered)} instead of "
            f"{fmt.share(plain.coupling_answered)}, pooled over the repetitions"
        )
    if better == "sync-resilient":
        cost = _overhead(plain, careful)
        return Statement(
            "patterns",
            "If you choose sync, add the resilience patterns (breakers, bulkheads, load "
            f"shedding, partial answers): coupling index {_pct_range(careful.coupling_up)} "
            f"instead of {_pct_range(plain.coupling_up)}{cost}{answered}.",
        )
    return Statement(
        "patterns",
        "The resilience patterns did not lower sync's coupling index beyond the spread "
        f"({_pct_range(careful.coupling_up)} vs {_pct_range(plain.coupling_up)}){answered}.",
    )


def _overhead(plain: Evidence, careful: Evidence) -> str:
    ratios = [
        careful.p50_ms[op].value / r.value
        for op, r in plain.p50_ms.items()
        if op in careful.p50_ms and r.value
    ]
    if not ratios:
        return ""
    return (
        f", for {fmt.ratio(median(ratios))} plain sync's p50 at moderate load (median over "
        "operations)"
    )


def _cost(ev: Mapping[str, Evidence]) -> Statement | None:
    ranges = {k: e.cpu_per_1000 for k, e in ev.items() if e.cpu_per_1000 is not None}
    if len(ranges) < 2:
        return None
    best = judge(ranges)
    shown = ", ".join(f"{k} {_range(r)}" for k, r in ranges.items())
    if best in (NO_DIFFERENCE, NOT_ENOUGH):
        return Statement(
            "cost",
            f"CPU cost does not separate the variants ({_why_not(best)}: {shown} s / 1,000).",
        )
    return Statement(
        "cost",
        f"Choose **{best}** to spend the least CPU per operation ({shown} CPU seconds per 1,000 "
        "operations, every process of the stack).",
    )


def _range(r: Range | None, unit: str = "") -> str:
    if r is None:
        return "-"
    suffix = f" {unit}" if unit else ""
    if r.low == r.high:
        return f"{fmt.num(r.value)}{suffix}"
    return f"{fmt.num(r.value)} [{fmt.num(r.low)}{fmt.DASH}{fmt.num(r.high)}]{suffix}"


def _pct_range(r: Range) -> str:
    if r.low == r.high:
        return fmt.share(r.value)
    return f"{fmt.share(r.value)} [{fmt.share(r.low)}{fmt.DASH}{fmt.share(r.high)}]"


def render(evidence: Mapping[str, Evidence], order: Sequence[str]) -> list[str]:
    """The verdict section's Markdown: per variant its lines, then the statements."""
    out = []
    for impl in order:
        ev = evidence[impl]
        mine = lines(ev, evidence)
        if not mine:
            continue
        out.append(f"**{impl}**")
        out += [f"- {line.dimension}: {line.text}" for line in mine]
        out.append("")
    said = statements(evidence)
    if said:
        out += [f"- {s.text}" for s in said]
        out.append("")
    return out
