"""The audit of the writes of a chaos experiment: Jepsen's set checker over the request log.

After the load stops and the system has converged, the runner reads what each kind of write
left behind (the owner's rows and the query view) into an `Observed` per kind; `audit` compares
it with what the clients were told (the request log). Pure logic: no I/O.

The unit is one logical write = one `request_id` (the idempotency key the client sent). A key
sent several times (a retry with the same key) is one write; its records decide its outcome (a
write record without a request_id cannot be matched to a row: it is only counted, in
`without_request_id`, a defect of the generator that the runner should report):

- acknowledged: at least one record with status OK (its `id` is the acknowledged id);
- indeterminate: no OK, and at least one record whose status is in INDETERMINATE (the client
  cannot know whether it happened) or GENERATOR_* (the generator failed around the call, so it
  cannot say whether the request went out either);
- failed (definite): every record has another non-OK status (INVALID_ARGUMENT, NOT_FOUND,
  ...): the server said the write did not happen.

Against what was observed:

- lost_in_owner: acknowledged, and the acknowledged id is not among the owner's rows for its
  request_id. This includes the owner holding a DIFFERENT id under that request_id: the client
  was told the write is `id`, and `id` does not exist, so the acknowledged write is lost (the
  row held instead is not counted again as unexpected: its key was attempted). Two OK records
  of one key with different ids (a broken idempotency) make one of them lost, or duplicated if
  the owner holds both;
- lost_in_view: acknowledged, and the acknowledged id is not in the query view;
- lost: acknowledged and (lost_in_owner or lost_in_view), each write counted once;
- duplicated: a request_id held by more than one owner row, plus an id held by rows of more
  than one request_id (or twice among the rows without a key); one row counts once;
- unexpected: ids held by the owner under a request_id never attempted, the caller's rows
  without an attempted key (`Observed.unexpected_ids`), and ids the view shows that neither the
  owner holds nor any client was acknowledged (a phantom in the view);
- recovered: indeterminate writes whose request_id the owner holds (they happened);
- definite_failures_found: definitely failed writes whose request_id the owner holds anyway (a
  violation: the client was told it did not happen).

`valid` = lost == 0 and unexpected == 0 and duplicated == 0 and definite_failures_found == 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lab.chaos.records import INDETERMINATE, OK, WRITES, RequestRecord

MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Observed:
    """What one kind of write (CreatePost or CreateComment) left behind, read after the system
    converged.

    - owner: request_id -> the ids of the owner's rows created during the experiment with that
      request_id (a list, so that a duplicate shows). Keys never attempted are allowed (they
      are unexpected).
    - view_ids: the ids the query view shows for rows created during the experiment. Leave out
      what existed before (the seed): an id here that the owner does not hold and no client was
      acknowledged is counted as unexpected.
    - unexpected_ids: ids of owner rows created during the experiment whose request_id is not
      among the attempted ones, or that have none, if the caller finds them apart from `owner`.
      An id both here and in `owner` is the same row (not a duplicate).
    """

    owner: Mapping[str, Sequence[str]]
    view_ids: AbstractSet[str] = frozenset()
    unexpected_ids: Sequence[str] = ()


@dataclass(slots=True)
class AuditResult:
    """The set checker's counts for one kind of write, or for all of them (see the module's
    docstring for each term). `examples` keeps up to MAX_EXAMPLES per violation:
    "request_id -> id" for lost_*, "request_id=…" or "id=…" for duplicated, the id for
    unexpected, the request_id for definite_failures_found."""

    records: int = 0  # write records in the log (a retried key counts once per record)
    attempted: int = 0  # distinct request_ids
    acknowledged: int = 0
    lost: int = 0
    lost_in_owner: int = 0
    lost_in_view: int = 0
    duplicated: int = 0
    unexpected: int = 0
    indeterminate: int = 0
    recovered: int = 0
    failed: int = 0  # definite failures
    definite_failures_found: int = 0
    without_request_id: int = 0  # write records without a key: not audited (a generator defect)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """A run with a lost, unexpected or duplicated write, or a definite failure that
        happened anyway, is a failed run, whatever else it shows."""
        return (
            self.lost == 0
            and self.unexpected == 0
            and self.duplicated == 0
            and self.definite_failures_found == 0
        )

    def _example(self, violation: str, text: str) -> None:
        kept = self.examples.setdefault(violation, [])
        if len(kept) < MAX_EXAMPLES:
            kept.append(text)

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form: `valid`, then the fields above by name (examples copied)."""
        return {"valid": self.valid, **asdict(self)}


@dataclass(frozen=True, slots=True)
class AuditReport:
    """One AuditResult per kind of write (WRITES) and their sum; `total.valid` is the run's."""

    kinds: dict[str, AuditResult]
    total: AuditResult

    @property
    def valid(self) -> bool:
        return self.total.valid

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (an experiment's `audit`): `valid`, the total, then each kind."""
        return {
            "valid": self.valid,
            "total": self.total.to_dict(),
            "kinds": {kind: result.to_dict() for kind, result in self.kinds.items()},
        }


def is_indeterminate(status: str) -> bool:
    """The client cannot know whether the write happened."""
    return status in INDETERMINATE or status.startswith("GENERATOR_")


def audit(records: Iterable[RequestRecord], observed: Mapping[str, Observed]) -> AuditReport:
    """Check every write of the log (op in WRITES) against what was observed for its kind.

    `observed` must hold every kind in WRITES (ValueError otherwise): a kind nobody looked at
    would otherwise show every acknowledged write as lost, or none."""
    missing = [kind for kind in WRITES if kind not in observed]
    if missing:
        raise ValueError(f"no observation for {', '.join(missing)}")
    by_kind: dict[str, list[RequestRecord]] = {kind: [] for kind in WRITES}
    for r in records:
        if r.op in by_kind:
            by_kind[r.op].append(r)
    kinds = {kind: audit_kind(by_kind[kind], observed[kind]) for kind in WRITES}
    return AuditReport(kinds=kinds, total=_sum(kinds))


def audit_kind(records: Sequence[RequestRecord], observed: Observed) -> AuditResult:
    """The set checker for one kind: `records` are that kind's write records."""
    result = AuditResult(records=len(records))
    outcomes: dict[str, list[RequestRecord]] = defaultdict(list)
    for r in records:
        if r.request_id:
            outcomes[r.request_id].append(r)
        else:
            result.without_request_id += 1
    result.attempted = len(outcomes)
    owner = {key: list(ids) for key, ids in observed.owner.items()}
    acknowledged_ids: set[str] = set()

    for key, tries in outcomes.items():
        acks = sorted({r.id for r in tries if r.status == OK})
        held = owner.get(key, [])
        if acks:
            result.acknowledged += 1
            acknowledged_ids.update(acks)
            not_held = [ack for ack in acks if ack not in held]
            not_shown = [ack for ack in acks if ack not in observed.view_ids]
            result.lost_in_owner += bool(not_held)
            result.lost_in_view += bool(not_shown)
            result.lost += bool(not_held or not_shown)
            for ack in not_held:
                result._example("lost_in_owner", f"{key} -> {ack}")
            for ack in not_shown:
                result._example("lost_in_view", f"{key} -> {ack}")
        elif any(is_indeterminate(r.status) for r in tries):
            result.indeterminate += 1
            result.recovered += bool(held)
        else:
            result.failed += 1
            if held:
                result.definite_failures_found += 1
                result._example("definite_failures_found", key)

    _duplicates(result, owner, observed.unexpected_ids)
    _unexpected(result, owner, outcomes.keys(), acknowledged_ids, observed)
    return result


def _duplicates(
    result: AuditResult, owner: Mapping[str, list[str]], unkeyed: Sequence[str]
) -> None:
    """A key held by more than one row; an id held by rows of more than one key, or twice
    among the rows without a key (an unkeyed id also held under a key is that same row)."""
    keys_of: dict[str, set[str]] = defaultdict(set)
    for key, ids in sorted(owner.items()):
        if len(ids) > 1:
            result.duplicated += 1
            result._example("duplicated", f"request_id={key}")
        for i in ids:
            keys_of[i].add(key)
    for i, n in sorted(Counter(unkeyed).items()):
        if i not in keys_of and n > 1:
            result.duplicated += 1
            result._example("duplicated", f"id={i}")
    for i, keys in sorted(keys_of.items()):
        if len(keys) > 1:
            result.duplicated += 1
            result._example("duplicated", f"id={i}")


def _unexpected(
    result: AuditResult,
    owner: Mapping[str, list[str]],
    attempted: Iterable[str],
    acknowledged_ids: set[str],
    observed: Observed,
) -> None:
    tried = set(attempted)
    held = {i for ids in owner.values() for i in ids}
    found = {i for key, ids in owner.items() if key not in tried for i in ids}
    found.update(observed.unexpected_ids)
    found.update(observed.view_ids - held - acknowledged_ids - set(observed.unexpected_ids))
    for i in sorted(found):
        result.unexpected += 1
        result._example("unexpected", i)


def _sum(kinds: Mapping[str, AuditResult]) -> AuditResult:
    total = AuditResult()
    counters = [f.name for f in fields(AuditResult) if f.name != "examples"]
    for kind, result in kinds.items():
        for name in counters:
            setattr(total, name, getattr(total, name) + getattr(result, name))
        for violation, examples in result.examples.items():
            for example in examples:
                total._example(violation, f"{kind}: {example}")
    return total
