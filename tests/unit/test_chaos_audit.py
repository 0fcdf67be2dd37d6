"""The write audit (Jepsen's set checker) on small synthetic logs, with exact expected counts."""

from __future__ import annotations

import json

import pytest

from lab.chaos.audit import MAX_EXAMPLES, AuditResult, Observed, audit, audit_kind
from lab.chaos.records import RequestRecord

NOTHING = Observed(owner={})


def post(request_id: str, status: str = "OK", id: str = "") -> RequestRecord:
    return RequestRecord("CreatePost", 1000.0, 1000.1, status, request_id=request_id, id=id)


def comment(request_id: str, status: str = "OK", id: str = "") -> RequestRecord:
    return RequestRecord(
        "CreateComment", 1000.0, 1000.1, status, request_id=request_id, id=id, post_id="p"
    )


def counts(result: AuditResult) -> dict[str, int]:
    d = result.to_dict()
    return {k: v for k, v in d.items() if isinstance(v, int) and not isinstance(v, bool) and v}


def test_every_acknowledged_write_found_is_valid() -> None:
    records = [post("r1", id="a"), post("r2", id="b"), RequestRecord("GetPost", 1.0, 1.1, "OK")]
    report = audit(
        records,
        {
            "CreatePost": Observed(owner={"r1": ["a"], "r2": ["b"]}, view_ids={"a", "b"}),
            "CreateComment": NOTHING,
        },
    )
    assert report.valid
    assert counts(report.kinds["CreatePost"]) == {"records": 2, "attempted": 2, "acknowledged": 2}
    assert counts(report.kinds["CreateComment"]) == {}
    assert report.total.examples == {}


def test_indeterminate_writes_recovered_or_not() -> None:
    records = [
        post("r1", "UNAVAILABLE"),  # happened: recovered
        post("r2", "DEADLINE_EXCEEDED"),  # did not happen
        post("r3", "TIMEOUT"),  # happened
        post("r4", "GENERATOR_ConnectionError"),  # the generator cannot say either
    ]
    observed = Observed(owner={"r1": ["a"], "r3": ["c"]}, view_ids={"a", "c"})
    result = audit_kind(records, observed)
    assert counts(result) == {"records": 4, "attempted": 4, "indeterminate": 4, "recovered": 2}
    assert result.valid


def test_a_retried_key_is_one_write_decided_by_its_outcomes() -> None:
    records = [
        comment("r1", "NOT_FOUND"),
        comment("r1", "OK", id="a"),  # the retry was acknowledged
        comment("r2", "NOT_FOUND"),
        comment("r2", "UNAVAILABLE"),  # the retry may have happened
    ]
    result = audit_kind(records, Observed(owner={"r1": ["a"], "r2": ["b"]}, view_ids={"a", "b"}))
    assert counts(result) == {
        "records": 4,
        "attempted": 2,
        "acknowledged": 1,
        "indeterminate": 1,
        "recovered": 1,
    }
    assert result.valid


def test_a_request_id_held_twice_is_duplicated() -> None:
    records = [post("r1", id="a")]
    result = audit_kind(records, Observed(owner={"r1": ["a", "b"]}, view_ids={"a", "b"}))
    assert counts(result) == {"records": 1, "attempted": 1, "acknowledged": 1, "duplicated": 1}
    assert result.examples == {"duplicated": ["request_id=r1"]}
    assert not result.valid


def test_an_id_held_under_two_request_ids_is_duplicated() -> None:
    records = [post("r1", id="a"), post("r2", "UNAVAILABLE")]
    result = audit_kind(records, Observed(owner={"r1": ["a"], "r2": ["a"]}, view_ids={"a"}))
    assert result.duplicated == 1
    assert result.recovered == 1
    assert result.examples == {"duplicated": ["id=a"]}
    assert not result.valid


def test_unexpected_rows_and_phantoms_in_the_view() -> None:
    records = [post("r1", id="a")]
    observed = Observed(
        owner={"r1": ["a"], "never-sent": ["x"]},
        view_ids={"a", "x", "phantom"},
        unexpected_ids=["x", "y"],  # x is the same row as owner["never-sent"]: counted once
    )
    result = audit_kind(records, observed)
    assert result.unexpected == 3
    assert result.examples == {"unexpected": ["phantom", "x", "y"]}
    assert result.lost == 0 and result.duplicated == 0
    assert not result.valid


def test_lost_writes_in_the_owner_and_in_the_view() -> None:
    records = [
        post("r1", id="a"),  # owner lost it, the view has it
        post("r2", id="b"),  # the view never showed it
        post("r3", id="c"),  # the owner holds another id under r3
        post("r4", id="d"),  # nowhere
        post("r5", id="e"),  # fine
    ]
    observed = Observed(
        owner={"r2": ["b"], "r3": ["z"], "r5": ["e"]},
        view_ids={"a", "c", "e"},
    )
    result = audit_kind(records, observed)
    assert counts(result) == {
        "records": 5,
        "attempted": 5,
        "acknowledged": 5,
        "lost": 4,
        "lost_in_owner": 3,
        "lost_in_view": 2,
    }
    assert result.examples == {
        "lost_in_owner": ["r1 -> a", "r3 -> c", "r4 -> d"],
        "lost_in_view": ["r2 -> b", "r4 -> d"],
    }
    assert not result.valid


def test_a_definite_failure_that_exists_anyway_is_a_violation() -> None:
    records = [
        comment("r1", "INVALID_ARGUMENT"),  # held anyway
        comment("r2", "NOT_FOUND"),  # really did not happen
    ]
    result = audit_kind(records, Observed(owner={"r1": ["a"]}, view_ids={"a"}))
    assert counts(result) == {
        "records": 2,
        "attempted": 2,
        "failed": 2,
        "definite_failures_found": 1,
    }
    assert result.examples == {"definite_failures_found": ["r1"]}
    assert not result.valid


def test_examples_are_capped() -> None:
    records = [post(f"r{i:02}", id=f"id{i:02}") for i in range(12)]
    result = audit_kind(records, Observed(owner={}))
    assert (result.lost, result.lost_in_owner, result.lost_in_view) == (12, 12, 12)
    assert result.examples["lost_in_owner"] == [f"r{i:02} -> id{i:02}" for i in range(MAX_EXAMPLES)]


def test_total_sums_the_kinds_and_serializes() -> None:
    records = [
        post("p1", id="a"),
        post("p2", "UNAVAILABLE"),
        comment("c1", id="k"),
        comment("c2", "NOT_FOUND"),
        RequestRecord("CreateComment", 1000.0, 1000.1, "OK", id="k2"),  # no key: not audited
    ]
    report = audit(
        records,
        {
            "CreatePost": Observed(owner={"p1": ["a"], "p2": ["b"]}, view_ids={"a", "b"}),
            "CreateComment": Observed(owner={}, view_ids={"k"}),
        },
    )
    assert counts(report.total) == {
        "records": 5,
        "attempted": 4,
        "acknowledged": 2,
        "lost": 1,
        "lost_in_owner": 1,
        "indeterminate": 1,
        "recovered": 1,
        "failed": 1,
        "without_request_id": 1,
    }
    assert report.total.examples == {"lost_in_owner": ["CreateComment: c1 -> k"]}
    assert report.kinds["CreatePost"].valid
    assert not report.kinds["CreateComment"].valid
    assert not report.valid
    d = json.loads(json.dumps(report.to_dict()))
    assert d["valid"] is False
    assert d["total"]["lost"] == 1
    assert d["kinds"]["CreatePost"]["recovered"] == 1


def test_every_kind_must_be_observed() -> None:
    with pytest.raises(ValueError, match="CreateComment"):
        audit([post("r1", id="a")], {"CreatePost": NOTHING})
