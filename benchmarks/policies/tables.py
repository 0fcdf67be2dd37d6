"""The text tables `lab bench --causality` prints: per variant, median [min-max] over its runs
(ms unless said) of the probe, of the runs under load and of the runs under each fault."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from benchmarks.policies.aggregate import aggregate, fault_aggregate, mixed_aggregate
from benchmarks.policies.documents import CausalitySummary, FaultRun, MixedRun, ProbeRun
from benchmarks.suite.stats import Spread


def _cell(spread: Spread | None, digits: int = 1) -> str:
    """median [min-max], the median alone when the runs agree; "-" when none measured it."""
    if spread is None:
        return "-"
    text = f"{spread['median']:.{digits}f}"
    if spread["min"] != spread["max"]:
        text += f" [{spread['min']:.{digits}f}-{spread['max']:.{digits}f}]"
    return text


HEADER = (
    f"{'variant':13} {'runs':>4} {'refused/1000':>14} {'CreateComment p50/p99':>22} "
    f"{'acked p50/p99':>16} {'to final p50/p99':>18} {'send->final p50/p99':>20} "
    f"{'bad input p50':>24} {'w/ token':>20}"
)


def row(name: str, runs: list[ProbeRun]) -> str:
    """Medians over the runs (the refusals with their min-max); ms."""
    agg = aggregate(runs)

    answers = Counter[str]()
    token_answers = Counter[str]()
    for r in runs:
        answers.update(r["bad_input"]["answers"])
        token_answers.update(r["bad_input_with_token"]["answers"])
    bad = f"{_top(answers)} {_cell(agg['bad_input_p50_ms'])}"
    bad_token = f"{_top(token_answers)} {_cell(agg['bad_input_token_p50_ms'], 0)}"
    return (
        f"{name:13} {len(runs):>4} {_cell(agg['refusals_per_1000'], 0):>14} "
        f"{_pair(agg, 'create_comment'):>22} {_pair(agg, 'acknowledged'):>16} "
        f"{_pair(agg, 'final_status'):>18} {_pair(agg, 'send_to_final'):>20} "
        f"{bad:>24} {bad_token:>20}"
    )


def _pair(agg: Mapping[str, Spread | None], figure: str) -> str:
    """'p50 / p99' of a figure's medians, ms."""
    p50, p99 = agg[f"{figure}_p50_ms"], agg[f"{figure}_p99_ms"]
    return "-" if p50 is None or p99 is None else f"{p50['median']:.1f} / {p99['median']:.1f}"


def _top(answers: Counter[str]) -> str:
    """The answers given, most frequent first: "NOT_FOUND/REJECTED"."""
    return "/".join(name for name, _ in answers.most_common()) or "-"


MIXED_HEADER = (
    f"{'variant':13} {'runs':>4} {'refused/1000':>14} {'CreateComment p50 / p99':>24} "
    f"{'status lag p50 / p99':>22} {'achieved/s':>11} {'errors %':>9}"
)


def mixed_row(name: str, runs: list[MixedRun]) -> str:
    """A variant's runs under load: medians over the runs (the refusals with their min-max)."""
    agg = mixed_aggregate(runs)

    return (
        f"{name:13} {len(runs):>4} {_cell(agg['refusals_per_1000'], 0):>14} "
        f"{_pair(agg, 'create_comment'):>24} {_pair(agg, 'comment_status_lag'):>22} "
        f"{_cell(agg['achieved_rate']):>11} {_cell(agg['error_rate_percent'], 2):>9}"
    )


FAULT_HEADER = (
    f"{'fault':17} {'variant':13} {'runs':>4} {'CreateComment ok % during':>26} "
    f"{'refused/1000 during':>20} {'after':>12} {'p99 during':>11} {'recovery s':>11} "
    f"{'converged s':>12} {'acked':>6} {'indet.':>6} {'lost':>5} {'rejected unknown':>16} "
    f"{'valid':>6}"
)


def fault_row(fault: str, name: str, runs: list[FaultRun]) -> str:
    """A variant's runs under one fault: medians [min-max] over the runs, the audit summed."""
    agg = fault_aggregate(runs)
    rejected = "-" if agg["rejected_unknown_post"] is None else str(agg["rejected_unknown_post"])
    valid = f"{agg['valid_runs']}/{agg['runs']}"
    return (
        f"{fault:17} {name:13} {agg['runs']:>4} "
        f"{_cell(agg['comment_availability_during_percent']):>26} "
        f"{_cell(agg['refusals_per_1000_during'], 0):>20} "
        f"{_cell(agg['refusals_per_1000_after'], 0):>12} "
        f"{_cell(agg['create_comment_p99_during_ms']):>11} {_cell(agg['recovery_s'], 2):>11} "
        f"{_cell(agg['convergence_s'], 2):>12} {agg['acknowledged']:>6} "
        f"{agg['indeterminate']:>6} {agg['lost']:>5} {rejected:>16} {valid:>6}"
    )


def table(document: CausalitySummary) -> str:
    """The printed tables: per variant, median [min-max] over runs (ms unless said)."""
    lines = [HEADER]
    for name, runs in document["runs"].items():
        lines.append(row(name, runs))
    lines.append(
        "ms, medians over runs. refused/1000: first CreateComment answered NOT_FOUND "
        "[min-max]; acked: first send -> accepted, retries every 2 ms included; to final: "
        "acknowledgement -> APPROVED/REJECTED in GetPostView; send->final: from the first "
        "send; bad input: a comment on a post "
        "that never existed, the answer and its time (accept: until REJECTED)"
    )
    if document.get("mixed"):
        lines += ["", MIXED_HEADER]
        lines += [mixed_row(name, runs) for name, runs in document["mixed"].items()]
        lines.append(
            "under load (the scenario's measured Locust run, open loop): refused/1000: "
            "CreateComment answered NOT_FOUND per 1,000 CreateComment; CreateComment from the "
            "scheduled start; status lag: the query service's creation -> final status in the "
            "view (async); medians over runs [min-max]"
        )
    if document.get("faults"):
        lines += ["", FAULT_HEADER]
        for fault, by in document["faults"].items():
            lines += [fault_row(fault, name, runs) for name, runs in by.items()]
        lines.append(
            "under faults (chaos experiments): CreateComment scheduled during the fault: share "
            "answered OK and NOT_FOUND per 1,000 (after: from the restore on); recovery: "
            "restore -> CreateComment >= 99 %; converged: restore -> read model complete "
            "(async); acked/indet./lost: the audit's comments, summed over runs; rejected "
            "unknown: accept's comments held past the bound"
        )
    return "\n".join(lines)
