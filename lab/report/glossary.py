"""The report's terms, defined once (docs/METHOD.md has the long versions)."""

from __future__ import annotations

TERMS: tuple[tuple[str, str], ...] = (
    (
        "open loop, scheduled start",
        "the load generator fixes every request's start time in advance (Poisson arrivals at "
        "the offered rate) and sends each at its time whatever earlier requests are doing; "
        "latency counts from that scheduled start, so a stall cannot hide the requests that "
        "queued behind it (coordinated omission, as wrk2 corrects it).",
    ),
    (
        "SLO",
        "the service-level objective the capacity is read against: p99 from the scheduled "
        "start at most 50 ms over all operations, and at most 0.1 % errors.",
    ),
    (
        "capacity",
        "the offered rate at which a load curve fitted to every capacity step (p99 against "
        "offered rate, monotone) crosses the SLO, with its 95 % bootstrap confidence interval; "
        "a bound (>= or <=) when the curve did not cross within the rates run.",
    ),
    (
        "plateau",
        "the maximum sustained goodput: the highest rate of requests answered within the SLO "
        "that any offered rate of the grid achieved.",
    ),
    (
        "knee",
        "the offered rate at which the fitted p99 has doubled from its value at the lowest "
        "rate run: where queueing starts to show.",
    ),
    (
        "÷ floor",
        "an operation's p50 over the sum of the unavoidable parts on its path (gRPC hops, "
        "commits, reads), each timed alone on the same machine in the same run.",
    ),
    (
        "bare chain",
        "servers that make the same hops, reads and commits as an implementation and nothing "
        "else (no validation, no domain code); ÷ bare chain: an operation's p50 over the bare "
        "chain's at the same offered rate.",
    ),
    (
        "spread, ~",
        "every figure is the median of its repetitions with their minimum and maximum; two "
        "figures differ only when those ranges (or two confidence intervals) do not overlap, "
        "else ~ (no significant difference); n/a with a single repetition.",
    ),
    (
        "steal",
        "CPU time the hypervisor gave to another virtual machine during a run: a noisy "
        "neighbour; runs with more than 5 % are flagged.",
    ),
    (
        "kill-db, kill, freeze, kill-bus, kill-bus-node",
        "the faults: SIGKILL of a service's PostgreSQL server (kill-db:SVC), of every replica "
        "of a service (kill:SVC), SIGSTOP of them (freeze), SIGKILL of every nats-server "
        "(kill-bus), SIGKILL or SIGSTOP of one node of a three-node bus, the event stream's "
        "leader or a follower (kill-bus-node, freeze-bus-node); "
        "slow-db, slow, partition and lossy are gray faults injected by a proxy on the link.",
    ),
    (
        "up, down by latency",
        "an operation is up while a fault holds when at least 99 % of its requests succeeded "
        "AND their p99 stayed within the SLO; available but slower than that is down by "
        "latency (marked *); partial answers (a view without its comments) are counted apart.",
    ),
    (
        "coupling index",
        "the share of (fault, operation) pairs, over the operations the failed part does not "
        "own, in which the operation was not up: 0 % means one part's failure stayed its own.",
    ),
    (
        "recovered",
        "an operation is back at the first request after the restore that starts a whole second "
        "in which every request of it succeeded (at request resolution).",
    ),
    (
        "converged (async)",
        "every write acknowledged before the restore is in the read model with its owner's "
        "final status.",
    ),
    (
        "attempted, acknowledged, refused, lost, duplicated, unexpected, indeterminate, recovered "
        "(audit)",
        "Jepsen's set-checker terms for the writes of an experiment: sent; answered OK; answered "
        "with a definite refusal (NOT_FOUND, INVALID_ARGUMENT: never written); acknowledged but "
        "never found; found twice; found but never attempted; answered with a status that "
        "cannot say whether it was written (deadline, UNAVAILABLE); indeterminate and found "
        "later.",
    ),
    (
        "metastable",
        "a variant that did not recover from an overload spike although the load went back to "
        "a rate it had served before.",
    ),
)


def render() -> list[str]:
    return [f"- **{term}**: {meaning}" for term, meaning in TERMS] + [""]
