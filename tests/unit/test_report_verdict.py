"""The verdict follows the data: synthetic evidence in, statements out, and each statement flips
when its data does (lab/report/verdict.py); the one rule (lab/report/rule.py) on its own."""

from __future__ import annotations

from pathlib import Path

from lab.report.evidence import Evidence, OverloadOutcome, gather
from lab.report.rule import NO_DIFFERENCE, NOT_ENOUGH, Range, group_clear, judge
from lab.report.sources import Run, Runs
from lab.report.verdict import statements


def r(value: float, spread: float = 0.0, n: int | None = 3) -> Range:
    return Range(value, value - spread, value + spread, n)


def evidence(**by_impl: dict[str, object]) -> dict[str, Evidence]:
    out = {}
    for impl, figures in by_impl.items():
        ev = Evidence(impl.rstrip("_").replace("_", "-"))
        for name, value in figures.items():
            setattr(ev, name, value)
        out[ev.impl] = ev
    return out


def said(ev: dict[str, Evidence], rule: str) -> str:
    (statement,) = [s.text for s in statements(ev) if s.rule == rule]
    return statement


def test_the_one_rule() -> None:
    assert judge({"a": r(1, 0.1), "b": r(2, 0.1)}) == "a"
    assert judge({"a": r(1, 0.6), "b": r(2, 0.6)}) == NO_DIFFERENCE  # ranges overlap
    assert judge({"a": r(1, 0.1), "b": r(2, 0.1)}, higher_is_better=True) == "b"
    assert judge({"a": r(1, 0.1, n=1), "b": r(2, 0.1, n=1)}) == NOT_ENOUGH  # one repetition
    assert judge({"a": r(1), "b": None}) == NOT_ENOUGH
    three = {"a": r(1, 0.1), "b": r(2, 0.1), "c": r(1.05, 0.1)}
    assert judge(three) == NO_DIFFERENCE  # the best must clear every other side
    # Between groups: every range of the first below every range of the second.
    assert group_clear([r(1, 0.1), r(1.2, 0.1)], [r(2, 0.1), r(2.5, 0.1)])
    assert not group_clear([r(1, 0.1), r(1.95, 0.1)], [r(2, 0.1)])  # 2.05 > 1.9: overlap
    assert not group_clear([r(1, 0.1, n=1)], [r(2, 0.1)])  # one repetition
    assert not group_clear([], [r(2, 0.1)])


def test_isolation_names_the_lowest_coupling_and_flips_with_it() -> None:
    ev = evidence(sync=dict(coupling_up=r(0.4, 0.05)), async_=dict(coupling_up=r(0.05, 0.03)))
    assert "Choose **async**" in said(ev, "isolation")
    ev = evidence(sync=dict(coupling_up=r(0.05, 0.03)), async_=dict(coupling_up=r(0.4, 0.05)))
    assert "Choose **sync**" in said(ev, "isolation")
    ev = evidence(sync=dict(coupling_up=r(0.2, 0.1)), async_=dict(coupling_up=r(0.25, 0.1)))
    assert "does not separate" in said(ev, "isolation")


def test_consistency_favours_the_owners_answering_reads_only_beyond_the_spread() -> None:
    sync = dict(immediately_consistent=True, p50_ms={"GetPost": r(5)}, ryw_final_ms=r(3, 0.5))
    ev = evidence(sync=sync, async_=dict(ryw_final_ms=r(20, 2)))
    assert "Choose **sync** when a client must see its own write" in said(ev, "consistency")
    ev = evidence(sync=sync, async_=dict(ryw_final_ms=r(3.2, 0.5)))
    assert "does not separate" in said(ev, "consistency")


def test_latency_counts_the_operations_each_variant_wins() -> None:
    fast, slow = {"A": r(2, 0.1), "B": r(2, 0.1)}, {"A": r(4, 0.1), "B": r(4, 0.1)}
    ev = evidence(sync=dict(p50_ms=slow), async_=dict(p50_ms=fast))
    assert "Choose **async** for the lowest latency" in said(ev, "latency")
    ev = evidence(sync=dict(p50_ms=fast), async_=dict(p50_ms=slow))
    assert "Choose **sync** for the lowest latency" in said(ev, "latency")


def test_capacity_is_judged_by_its_confidence_intervals() -> None:
    ev = evidence(sync=dict(capacity=r(300, 20, None)), async_=dict(capacity=r(450, 30, None)))
    assert "Choose **async** for throughput" in said(ev, "capacity")
    ev = evidence(sync=dict(capacity=r(300, 80, None)), async_=dict(capacity=r(400, 80, None)))
    assert "does not separate" in said(ev, "capacity")


def test_overload_names_who_recovered_where_another_stayed_down() -> None:
    back, stuck = OverloadOutcome(12.0, False, True), OverloadOutcome(None, True, True)
    ev = evidence(sync=dict(overload={0.9: stuck}), async_=dict(overload={0.9: back}))
    assert "Choose **async** when bursts" in said(ev, "overload")
    ev = evidence(sync=dict(overload={0.9: back}), async_=dict(overload={0.9: stuck}))
    assert "Choose **sync** when bursts" in said(ev, "overload")
    ev = evidence(sync=dict(overload={0.5: back}), async_=dict(overload={0.5: back}))
    assert "does not separate" in said(ev, "overload")
    # A variant beyond its capacity at the base rate is neither back nor stuck: said apart.
    beyond = OverloadOutcome(None, False, True, overloaded_at_base=True)
    ev = evidence(sync=dict(overload={0.9: back}), async_=dict(overload={0.9: beyond}))
    text = said(ev, "overload")
    assert "does not separate" in text and "before the spike already" in text
    assert "async at 0.9 C" in text


def test_the_patterns_statement_needs_both_sync_variants() -> None:
    plain = dict(coupling_up=r(0.4, 0.05), p50_ms={"A": r(4)})
    careful = dict(coupling_up=r(0.1, 0.05), p50_ms={"A": r(4.2)})
    ev = evidence(sync=plain, sync_resilient=careful)
    assert "add the resilience patterns" in said(ev, "patterns")
    assert "1.05×" in said(ev, "patterns")
    ev = evidence(sync=plain, sync_resilient=dict(coupling_up=r(0.38, 0.05)))
    assert "did not lower" in said(ev, "patterns")
    assert not [s for s in statements(evidence(sync=plain)) if s.rule == "patterns"]


def test_the_patterns_statement_counts_partial_answers_apart() -> None:
    plain = dict(coupling_up=r(0.6, 0.02), coupling_answered=0.6)
    careful = dict(coupling_up=r(0.58, 0.02), coupling_answered=0.3)
    text = said(evidence(sync=plain, sync_resilient=careful), "patterns")
    assert "did not lower" in text  # complete answers: within the spread
    assert "counting partial answers" in text and "30 % instead of 60 %" in text


def test_a_group_of_owners_clear_of_the_lagging_variants_is_chosen() -> None:
    owner = dict(immediately_consistent=True, p50_ms={"GetPost": r(5)})
    ev = evidence(
        sync={**owner, "ryw_final_ms": r(5.0, 0.1)},
        sync_resilient={**owner, "ryw_final_ms": r(4.95, 0.1)},  # overlaps sync
        async_=dict(ryw_final_ms=r(22, 2)),
    )
    assert "Choose **sync or sync-resilient** when a client must see" in said(ev, "consistency")


def test_one_repetition_says_so_and_flagged_overload_runs_give_no_verdict() -> None:
    one = dict(coupling_up=r(0.5, 0, n=1))
    assert "one repetition" in said(
        evidence(sync=one, async_=dict(coupling_up=r(0.3, 0, n=1))), "isolation"
    )
    flagged = {0.5: OverloadOutcome(1.0, False, False)}
    text = said(evidence(sync=dict(overload=flagged), async_=dict(overload=flagged)), "overload")
    assert "no verdict" in text


def chaos_run(run_id: str, gray: bool, up: dict[str, list[float]], lost: int = 0) -> Run:
    summary = {
        "matrix": {
            "rows": {},
            "coupling_index_per_repetition": {"up": up, "availability": up},
        },
        "experiments": [{"impl": impl, "audit": {"total": {"lost": lost}}} for impl in up],
    }
    meta = {"config": {"gray_matrix": gray}}
    return Run(run_id, "chaos", Path(run_id), meta, summary)


def test_a_gray_matrix_keeps_its_coupling_index_apart_from_the_crash_matrix() -> None:
    # The defect: with both runs, the crash matrix's coupling index was replaced by the gray
    # matrix's (the last read) while the first screen called it the crash figure.
    crash = chaos_run("c", gray=False, up={"sync": [0.47], "async": [0.5]})
    gray = chaos_run("g", gray=True, up={"sync": [0.34], "async": [0.76]}, lost=1)
    for order in ([crash, gray], [gray, crash]):
        ev = gather(Runs(chaos=order))
        assert ev["sync"].coupling_up == Range(0.47, 0.47, 0.47, 1)
        assert ev["async"].gray_coupling_up == Range(0.76, 0.76, 0.76, 1)
        assert ev["async"].lost_writes == 1  # every run's audit counts
    # Two crash matrices pool their repetitions.
    again = chaos_run("c2", gray=False, up={"sync": [0.37], "async": [0.5]})
    assert gather(Runs(chaos=[crash, again]))["sync"].coupling_up == Range(0.42, 0.37, 0.47, 2)


def crash_cells(answered: float, recovery_max: float) -> dict[str, object]:
    """One crash matrix's rows: posts' database killed; CreateComment (not posts') answered
    `answered` of its requests during the fault and came back `recovery_max` s after."""
    cell = {"cell": {"answered": answered, "up": True}, "recovery_s": {"max": recovery_max}}
    return {"kill-db:posts": {"CreateComment": {"sync": cell}}}


def test_crash_matrices_pool_their_answered_coupling_and_recoveries() -> None:
    # The defect: with two crash-matrix runs, coupling_answered and recovery_s were the last
    # run's alone (each run overwrote them), unlike every other figure, which pools.
    runs = []
    for run_id, answered, back in (("c1", 0.5, 2.0), ("c2", 1.0, 4.0)):
        run = chaos_run(run_id, gray=False, up={"sync": [0.5]})
        run.summary["matrix"]["rows"] = crash_cells(answered, back)
        runs.append(run)
    for order in (runs, runs[::-1]):
        ev = gather(Runs(chaos=order))["sync"]
        assert ev.coupling_answered == 0.5  # one of the two (fault, operation) pairs dropped
        assert ev.recovery_s == Range(3.0, 2.0, 4.0, 2)
        assert ev.faults_tried == 2 and ev.faults_survived == 2


def test_throughput_is_judged_by_the_plateau_first() -> None:
    # The plateau (most goodput sustained) separates the variants while the capacity at the
    # p99 SLO, noisier, does not: the statement chooses by the plateau and says the other.
    ev = evidence(
        sync=dict(plateau=r(255, 5, None), capacity=r(150, 40, None)),
        async_=dict(plateau=r(190, 8, None), capacity=r(155, 10, None)),
    )
    text = said(ev, "capacity")
    assert text.startswith("Choose **sync** for throughput")
    assert "Capacity at the p99 SLO does not separate" in text
    ev = evidence(
        sync=dict(plateau=r(190, 40, None), capacity=r(150, 5, None)),
        async_=dict(plateau=r(200, 40, None), capacity=r(250, 10, None)),
    )
    text = said(ev, "capacity")
    assert text.startswith("The most goodput sustained (plateau) does not separate")
    assert "At the p99 SLO **async** holds the highest rate" in text


def test_a_pair_apart_by_its_own_ratio_is_said_where_the_cis_overlap() -> None:
    # The capacities' CIs overlap (no variant clear of every other), but async ÷ sync's own CI
    # is below 1: the statement says both, so the first screen and the capacity table agree.
    ev = evidence(
        sync=dict(capacity=r(443, 60, None)),
        async_=dict(capacity=r(344, 50, None), capacity_over={"sync": r(0.78, 0.15, None)}),
    )
    text = said(ev, "capacity")
    assert text.startswith("Capacity at the p99 SLO does not separate the variants")
    assert "by a pair's own ratio (capacity section), sync's is higher than async's" in text
    assert "(async ÷ sync 0.78 [0.63–0.93])" in text
    ev["async"].capacity_over = {"sync": r(0.9, 0.15, None)}  # the ratio's CI spans 1
    assert "pair's own ratio" not in said(ev, "capacity")
