"""`lab bench --causality refuse,wait,accept`: read-your-writes across services, per policy of
the async comments service, with sync as the reference (docs/METHOD.md, Causality across
services).

Each policy (and sync) gets a fresh stack per repetition, the variants interleaved (sync refuse
wait accept, sync refuse wait accept, ...) so drift hits each alike; each stack is stopped after
its run. On it, one client at a modest fixed rate:

- `probes` times: CreatePost, then at once CreateComment on it (carrying CreatePost's consistency
  token: the client every policy gets; only `wait` uses it). A refusal (NOT_FOUND) is counted
  and retried every 2 ms with the same request_id, as a client would. Recorded: refusals per
  1,000 comments, the first CreateComment call's latency (whatever it answered), the time from
  its send to the acknowledgement (retries included), and the time from the acknowledgement to
  the comment's final status (APPROVED/REJECTED) in GetPostView.
- bad input: comments on post ids that never existed, sent together, without a token and (a
  few) with a token naming such a post: the time until the client has its answer, NOT_FOUND or,
  under `accept`, the comment's eventual REJECTED (polled in ListComments: a post that never
  existed has no view).

Then, on the same stack, the policies under load (unless `scenario` is None): seeded posts, a
measured Locust run of `scenario` (default `mixed`) in open loop at `load_rate` for
`load_duration_s` (benchmarks/suite/measured.py, as `lab bench` measures a scenario). Recorded:
CreateComment refusals (NOT_FOUND) per 1,000 CreateComment, its p50/p99 from the scheduled start,
the error rate, and (async) the query service's own `comment_status_lag_us` (a comment's creation
to its final status in the view; sync answers with the final status).

Then, once per repetition and fault of `faults` (given a FaultRunner: lab/chaos/policy_faults.py
runs a chaos experiment; this package may not import chaos), every variant the fault applies to, in
the same order: what a client sees during the fault (CreateComment availability and refusals per
1,000), after it, the time to converge, and the audit of the comments (nothing acknowledged may be
lost).

Writes results/<run-id>/meta.json, summary.json (every run, and per variant the median and
min-max over repetitions; "mixed"/"mixed_aggregate" and "faults"/"faults_aggregate" for the
load and the faults), and per run its JSON and HDR histograms; prints a table.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any, Protocol, TypedDict

import grpc
from hdrh.histogram import HdrHistogram

from benchmarks.load.hdr import LatencySummary, new_histogram, record, summary
from benchmarks.suite.context import BenchConfig, Load, RunContext
from benchmarks.suite.driver import users_for
from benchmarks.suite.machine import machine_meta
from benchmarks.suite.measured import measured_run
from benchmarks.suite.results import MeasuredRun
from benchmarks.suite.seeding import seed
from blog.domain import ConsistencyToken
from blog.rpc.metrics import decode_histogram
from blog.rpc.metrics import fetch as fetch_metrics
from blog.v1 import api_pb2
from lab.stack.client import BlogClient
from lab.stack.config import StackOptions
from lab.stack.faults import applies as fault_applies
from lab.stack.runner import Stack, fresh_stack
from lab.stack.stackfile import load_stack_file

POLICIES = ("refuse", "wait", "accept")
FINAL = (api_pb2.APPROVED, api_pb2.REJECTED)
TIMEOUT_S = 5.0
RETRY_PAUSE_S = 0.002  # a refused comment is sent again this soon (the ryw probe's pace)
POLL_S = 0.002  # final status polled this often
FINAL_LIMIT_S = 10.0  # a comment not final by then is counted `never_final`
SERVER_COUNTERS = (
    "comments_unknown_post",
    "comments_waited",
    "comments_held",
    "comments_rejected_unknown_post",
    "causality_wakeups_local",
    "causality_wakeups_notify",
)


@dataclass
class CausalityConfig:
    """The comparison's settings (meta.json's config)."""

    policies: list[str]
    sync_reference: bool = True  # also run the sync implementation (the policy does not apply)
    probes: int = 150  # CreatePost + CreateComment pairs per run
    rate: float = 20.0  # pairs started per second (one client; a late pair starts at once)
    warmup: int = 10  # pairs before the measured ones, not recorded
    bad_input: int = 10  # comments on posts that never existed, without a token
    bad_input_token: int = 3  # the same with a token naming such a post
    repeat: int = 2
    causality_wait_ms: float | None = None  # None: the services' defaults
    causality_accept_s: float | None = None
    scenario: str | None = "mixed"  # the load each variant also runs under; None: none
    load_rate: float = 50.0  # open loop, requests/s
    load_duration_s: float = 15.0  # measured, after load_warmup_s
    load_warmup_s: float = 3.0
    seed_posts: int = 20  # posts (with 0-3 comments each) seeded before the load
    seed: int = 1  # the load's random seed
    faults: list[str] = field(default_factory=list)  # chaos faults, e.g. kill-db:comments
    chaos_profile: str = "quick"  # the experiments' phases and load (lab/chaos/profiles.py)
    results_dir: Path = Path("results")
    progress: bool = True
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


class BadInput(TypedDict):
    answers: dict[str, int]  # NOT_FOUND, REJECTED, other status names, or TIMEOUT
    time_ms: LatencySummary  # send -> the answer (accept: -> REJECTED seen)


class ProbeRun(TypedDict):
    """One variant on one fresh stack."""

    variant: str  # sync, or async-<policy>
    impl: str
    policy: str | None
    repetition: int
    comments: int
    refused_first_try: int
    refusals_per_1000: float
    never_acknowledged: int
    never_final: int
    create_comment_ms: LatencySummary  # the first call, whatever it answered
    acknowledged_ms: LatencySummary  # first send -> accepted (retries after refusals included)
    final_status_ms: LatencySummary  # acknowledgement -> final status in GetPostView
    send_to_final_ms: LatencySummary  # first send -> final status in GetPostView
    bad_input: BadInput
    bad_input_with_token: BadInput
    server: dict[str, int]  # the comments service's counters over the run (every replica)
    server_wait_ms: LatencySummary  # wait: how long comments with a token waited (server side)
    duration_s: float


class MixedRun(TypedDict):
    """One variant under the scenario's load, on the stack its probe ran on."""

    variant: str
    impl: str
    policy: str | None
    repetition: int
    scenario: str
    offered_rate: float
    achieved_rate: float
    duration_s: float  # the measured window
    error_rate: float  # every operation
    comments: int  # CreateComment requests in the measured window, answered or not
    refused: int  # of them, NOT_FOUND
    refusals_per_1000: float | None  # None without a CreateComment
    comment_errors: dict[str, int]  # status name -> count, NOT_FOUND included
    create_comment_ms: LatencySummary  # successful ones, from the scheduled start
    comment_status_lag_ms: LatencySummary  # async: creation -> final status in the view
    server: dict[str, int]  # the comments service's causality counters over the run
    generator_saturated: bool
    steal_percent: float | None


class CommentOutcomes(TypedDict):
    """CreateComment requests of a chaos experiment scheduled in one phase."""

    requests: int
    ok: int
    refused: int  # NOT_FOUND
    errors: dict[str, int]  # every other status name -> count
    availability: float | None  # ok / requests; None without a request
    refusals_per_1000: float | None


class CommentAudit(TypedDict):
    """The chaos audit's counts for the comments (lab/chaos/audit.py)."""

    attempted: int
    acknowledged: int
    lost: int
    duplicated: int
    unexpected: int
    indeterminate: int
    recovered: int


class FaultRun(TypedDict):
    """One variant under one fault (a chaos experiment on a fresh stack)."""

    variant: str
    impl: str
    policy: str | None
    repetition: int
    fault: str
    valid: bool  # the experiment's verdict: audit valid, every activity succeeded
    hold_s: float | None  # how long the fault was held
    during: CommentOutcomes
    after: CommentOutcomes  # from the restore to the end of the load
    create_comment_p99_during_ms: float | None  # successful ones
    recovery_s: float | None  # restore -> CreateComment back at >= 99 %
    convergence_s: float | None  # async: restore -> the read model holds every write acked before
    catch_up_refused: int | None  # NOT_FOUND on posts acknowledged >= 1 s before
    audit: CommentAudit
    rejected_unknown_post: int | None  # accept: held past the bound, REJECTED (server counter)
    directory: str  # the experiment's files, relative to the run's


class FaultRunner(Protocol):
    """Runs one chaos experiment for the comparison and returns its row
    (lab/chaos/policy_faults.py)."""

    def __call__(
        self, impl: str, policy: str | None, fault: str, repetition: int, out: Path
    ) -> FaultRun: ...


class Spread(TypedDict):
    median: float | None
    min: float | None
    max: float | None


def say(config: CausalityConfig, line: str) -> None:
    if config.progress:
        print(line, flush=True)


def variants(config: CausalityConfig) -> list[tuple[str, str | None]]:
    """(impl, policy) pairs in run order."""
    return ([("sync", None)] if config.sync_reference else []) + [
        ("async", p) for p in config.policies
    ]


def label(impl: str, policy: str | None) -> str:
    return impl if policy is None else f"{impl}-{policy}"


# --- the probe -------------------------------------------------------------------------------
class Probe:
    """The measured client: one thread, blocking stubs, histograms in microseconds."""

    def __init__(self, api: BlogClient) -> None:
        self.api = api
        self.first_call = new_histogram()
        self.acknowledged = new_histogram()
        self.final = new_histogram()
        self.send_to_final = new_histogram()
        self.refused = 0
        self.never_acknowledged = 0
        self.never_final = 0

    def pair(self, measured: bool) -> None:
        post = self.api.posts.CreatePost(
            api_pb2.CreatePostRequest(title="causality", body="probe", request_id=_uuid()),
            timeout=TIMEOUT_S,
        )
        request = api_pb2.CreateCommentRequest(
            post_id=post.id,
            content="right after the post",
            request_id=_uuid(),
            consistency_token=post.consistency_token,
        )
        sent = time.perf_counter()
        comment, first_us, refused = self._comment(request)
        acked = time.perf_counter()
        if not measured:
            return
        record(self.first_call, first_us)
        self.refused += refused
        if comment is None:
            self.never_acknowledged += 1
            return
        record(self.acknowledged, (acked - sent) * 1e6)
        if self._until_final(post.id, comment.id):
            record(self.final, (time.perf_counter() - acked) * 1e6)
            record(self.send_to_final, (time.perf_counter() - sent) * 1e6)
        else:
            self.never_final += 1

    def _comment(
        self, request: api_pb2.CreateCommentRequest
    ) -> tuple[api_pb2.Comment | None, float, int]:
        """(the comment or None, the first call's duration in us, 1 if refused first)."""
        deadline = time.perf_counter() + FINAL_LIMIT_S
        first_us: float | None = None
        refused = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                comment = self.api.comments.CreateComment(request, timeout=TIMEOUT_S)
            except grpc.RpcError as error:
                if first_us is None:
                    first_us = (time.perf_counter() - start) * 1e6
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                refused = 1
                time.sleep(RETRY_PAUSE_S)
                continue
            return comment, first_us if first_us is not None else _us_since(start), refused
        return None, first_us or 0.0, refused

    def _until_final(self, post_id: str, comment_id: str) -> bool:
        deadline = time.perf_counter() + FINAL_LIMIT_S
        request = api_pb2.GetPostViewRequest(post_id=post_id)
        while time.perf_counter() < deadline:
            try:
                view = self.api.query.GetPostView(request, timeout=TIMEOUT_S)
                if any(c.id == comment_id and c.status in FINAL for c in view.comments):
                    return True
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            time.sleep(POLL_S)
        return False

    def bad_input(self, count: int, with_token: bool, limit_s: float) -> BadInput:
        """Comments on posts that never existed, sent together; time to each answer."""
        hist = new_histogram()
        answers: Counter[str] = Counter()
        pending: dict[str, tuple[float, grpc.Future]] = {}
        answered: dict[str, float] = {}
        for _ in range(count):
            post_id = _uuid()
            request = api_pb2.CreateCommentRequest(
                post_id=post_id,
                content="on a post that never existed",
                request_id=_uuid(),
                consistency_token=ConsistencyToken(post_id).encode() if with_token else "",
            )
            sent = time.perf_counter()
            future = self.api.comments.CreateComment.future(request, timeout=TIMEOUT_S)
            # The answer's time is taken when it arrives, not when this thread reads it.
            future.add_done_callback(lambda _f, k=post_id: answered.setdefault(k, _now()))
            pending[post_id] = (sent, future)
        accepted: dict[str, float] = {}  # post id -> when its comment was sent
        for post_id, (sent, future) in pending.items():
            try:
                future.result()
                accepted[post_id] = sent
            except grpc.RpcError as error:
                answers[error.code().name] += 1
                record(hist, (answered.get(post_id, _now()) - sent) * 1e6)
        deadline = time.perf_counter() + limit_s
        while accepted and time.perf_counter() < deadline:  # accept: until REJECTED shows
            for post_id, sent in list(accepted.items()):
                listed = self.api.comments.ListComments(
                    api_pb2.ListCommentsRequest(post_id=post_id), timeout=TIMEOUT_S
                )
                status = listed.comments[0].status if listed.comments else None
                if status in FINAL:
                    answers[api_pb2.CommentStatus.Name(status)] += 1  # type: ignore[arg-type]
                    record(hist, _us_since(sent))
                    del accepted[post_id]
            time.sleep(0.01)
        if accepted:
            answers["TIMEOUT"] += len(accepted)
        return {"answers": dict(answers), "time_ms": summary(hist)}


def _uuid() -> str:
    return str(uuid.uuid4())


def _now() -> float:
    return time.perf_counter()


def _us_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e6


def server_counters(addresses: list[str]) -> tuple[dict[str, int], list[bytes]]:
    counters: Counter[str] = Counter()
    waits: list[bytes] = []
    for address in addresses:
        snap = fetch_metrics(address, reset=True)
        for name in SERVER_COUNTERS:
            counters[name] += int(snap.counters.get(name, 0))
        if "causality_wait_us" in snap.histograms:
            waits.append(snap.histograms["causality_wait_us"])
    return {name: counters[name] for name in SERVER_COUNTERS}, waits


# --- one run, the comparison, the table ------------------------------------------------------
def probe_run(
    impl: str, policy: str | None, repetition: int, config: CausalityConfig, run_dir: Path
) -> tuple[ProbeRun, MixedRun | None]:
    """The probe on a fresh stack, then (config.scenario) the same stack under load."""
    name = label(impl, policy)
    out = run_dir / name
    out.mkdir(parents=True, exist_ok=True)
    say(config, f"[{name}] run {repetition}: starting a fresh stack ...")
    options = StackOptions(
        causality=policy,
        causality_wait_ms=config.causality_wait_ms,
        causality_accept_s=config.causality_accept_s,
    )
    api: BlogClient | None = None
    with fresh_stack(impl, options) as stack:
        try:
            api = BlogClient.from_stack_file(stack.stack_file)
            comments = stack.describe()["services"]["comments"]
            probe = Probe(api)
            for _ in range(config.warmup):
                probe.pair(measured=False)
            before, _ = server_counters(comments)
            started = time.perf_counter()
            for i in range(config.probes):
                pause = started + i / config.rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                probe.pair(measured=True)
            duration = time.perf_counter() - started
            accept_s = config.causality_accept_s or 5.0
            limit = accept_s + FINAL_LIMIT_S
            bad = probe.bad_input(config.bad_input, with_token=False, limit_s=limit)
            bad_token = probe.bad_input(config.bad_input_token, with_token=True, limit_s=limit)
            after, waits = server_counters(comments)
            result: ProbeRun = {
                "variant": name,
                "impl": impl,
                "policy": policy,
                "repetition": repetition,
                "comments": config.probes,
                "refused_first_try": probe.refused,
                "refusals_per_1000": 1000 * probe.refused / max(1, config.probes),
                "never_acknowledged": probe.never_acknowledged,
                "never_final": probe.never_final,
                "create_comment_ms": summary(probe.first_call),
                "acknowledged_ms": summary(probe.acknowledged),
                "final_status_ms": summary(probe.final),
                "send_to_final_ms": summary(probe.send_to_final),
                "bad_input": bad,
                "bad_input_with_token": bad_token,
                "server": {k: after[k] - before[k] for k in SERVER_COUNTERS},
                "server_wait_ms": summary(_merged(waits)),
                "duration_s": duration,
            }
            (out / f"run{repetition}.json").write_text(json.dumps(result, indent=2))
            for hist_name, hist in (
                ("create_comment", probe.first_call),
                ("acknowledged", probe.acknowledged),
                ("final_status", probe.final),
                ("send_to_final", probe.send_to_final),
            ):
                (out / f"hdr-{hist_name}-run{repetition}.txt").write_bytes(hist.encode())
            say(config, f"[{name}] run {repetition}: {row(name, [result])}")
            mixed = None
            if config.scenario:
                mixed = load_run(stack, impl, policy, repetition, config, out)
                say(config, f"[{name}] run {repetition}: {mixed_row(name, [mixed])}")
            return result, mixed
        finally:
            if api is not None:
                api.close()


def load_run(
    stack_obj: Stack,
    impl: str,
    policy: str | None,
    repetition: int,
    config: CausalityConfig,
    out: Path,
) -> MixedRun:
    """Seed posts, then one measured Locust run of the scenario (as `lab bench` measures one)."""
    assert config.scenario is not None
    stack = load_stack_file(stack_obj.stack_file)
    load_dir = out / f"{config.scenario}@{config.load_rate:g}-run{repetition}"
    load_dir.mkdir(parents=True, exist_ok=True)
    seed_file = load_dir / "seed-posts.json"
    seed_file.write_text(json.dumps(seed(stack, config.seed_posts, random.Random(config.seed))))
    bench = BenchConfig(
        impls=[impl],
        rate=config.load_rate,
        duration_s=config.load_duration_s,
        results_dir=config.results_dir,
        seed=config.seed,
        sweep=False,
        progress=config.progress,
        run_id=config.run_id,
    )
    ctx = RunContext(impl, stack, stack_obj.stack_file, out, seed_file, bench)
    load = Load(
        config.scenario,
        config.load_rate,
        users_for(config.load_rate, 0),
        config.load_duration_s,
        config.load_warmup_s,
    )
    say(
        config,
        f"[{label(impl, policy)}] run {repetition}: {config.scenario} at "
        f"{config.load_rate:g}/s for {config.load_duration_s:g} s ...",
    )
    run = measured_run(ctx, load, load_dir)
    result = mixed_result(run, impl, policy, repetition)
    (load_dir / "causality.json").write_text(json.dumps(result, indent=2))
    return result


def mixed_result(run: MeasuredRun, impl: str, policy: str | None, repetition: int) -> MixedRun:
    """What a measured run says about CreateComment (pure: tested)."""
    op = run["operations"].get("CreateComment")
    errors = dict(op["errors"]) if op else {}
    comments = (op["ok"] + sum(errors.values())) if op else 0
    refused = errors.get("NOT_FOUND", 0)
    counters = run.get("service_counters", {}).get("comments", {})
    return {
        "variant": label(impl, policy),
        "impl": impl,
        "policy": policy,
        "repetition": repetition,
        "scenario": run["scenario"],
        "offered_rate": run["offered_rate"] or 0.0,
        "achieved_rate": run["achieved_rate"],
        "duration_s": run["duration_s"],
        "error_rate": run["error_rate"],
        "comments": comments,
        "refused": refused,
        "refusals_per_1000": 1000 * refused / comments if comments else None,
        "comment_errors": errors,
        "create_comment_ms": op["latency_ms"] if op else {"count": 0},
        "comment_status_lag_ms": run.get("visibility_lag_ms", {}).get(
            "comment_status_lag_us", {"count": 0}
        ),
        "server": {k: int(counters.get(k, 0)) for k in SERVER_COUNTERS},
        "generator_saturated": run["generator_saturated"],
        "steal_percent": run.get("machine", {}).get("steal_percent"),
    }


def _merged(encoded: list[bytes]) -> HdrHistogram:
    total = new_histogram()
    for item in encoded:
        total.add(decode_histogram(item))
    return total


def applies(impl: str, fault: str) -> bool:
    return fault_applies(fault, impl)


def compare(config: CausalityConfig, faults: FaultRunner | None = None) -> Path:
    """Run every variant `repeat` times, interleaved; write meta.json and summary.json. With
    config.faults (and a runner for them), each repetition then runs each fault on every
    variant it applies to, in the same order."""
    unknown = [p for p in config.policies if p not in POLICIES]
    if unknown or not config.policies:
        raise ValueError(f"causality policies: choose from {POLICIES}, got {config.policies}")
    if config.faults and faults is None:
        raise ValueError("faults given without a runner for them")
    inapplicable = [f for f in config.faults if not any(applies(i, f) for i, _ in variants(config))]
    if inapplicable:
        raise ValueError(f"faults that apply to no variant: {inapplicable}")
    run_dir = config.results_dir / config.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    meta = {
        "run_id": config.run_id,
        "kind": "causality",
        "started_at": datetime.now(UTC).isoformat(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "machine": machine_meta(),
    }
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    say(config, f"results -> {run_dir}")
    runs: dict[str, list[ProbeRun]] = {label(i, p): [] for i, p in variants(config)}
    mixed: dict[str, list[MixedRun]] = {}
    under: dict[str, dict[str, list[FaultRun]]] = {f: {} for f in config.faults}
    for repetition in range(1, config.repeat + 1):
        for impl, policy in variants(config):
            probe, load = probe_run(impl, policy, repetition, config, run_dir)
            runs[label(impl, policy)].append(probe)
            if load is not None:
                mixed.setdefault(label(impl, policy), []).append(load)
        for fault in config.faults:
            for impl, policy in variants(config):
                if faults is None or not applies(impl, fault):
                    continue
                name = label(impl, policy)
                say(config, f"[{name}] run {repetition}: {fault} ...")
                out = run_dir / "faults" / f"{name}-run{repetition}"
                found = faults(impl, policy, fault, repetition, out)
                found["directory"] = str(out.relative_to(run_dir) / found["directory"])
                under[fault].setdefault(name, []).append(found)
                say(config, f"[{name}] run {repetition}: {fault_row(fault, name, [found])}")
    meta["ended_at"] = datetime.now(UTC).isoformat()
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    document: dict[str, Any] = {
        "run_id": config.run_id,
        "kind": "causality",
        "machine": meta["machine"],
        "runs": runs,
        "aggregate": {name: aggregate(r) for name, r in runs.items()},
    }
    if mixed:
        document["mixed"] = mixed
        document["mixed_aggregate"] = {name: mixed_aggregate(r) for name, r in mixed.items()}
    if config.faults:
        document["faults"] = under
        document["faults_aggregate"] = {
            fault: {name: fault_aggregate(r) for name, r in by.items()}
            for fault, by in under.items()
        }
    (run_dir / "summary.json").write_text(json.dumps(document, indent=2))
    return run_dir


FIGURES = {
    "refusals_per_1000": lambda r: r["refusals_per_1000"],
    "create_comment_p50_ms": lambda r: r["create_comment_ms"].get("p50_ms"),
    "create_comment_p99_ms": lambda r: r["create_comment_ms"].get("p99_ms"),
    "acknowledged_p50_ms": lambda r: r["acknowledged_ms"].get("p50_ms"),
    "acknowledged_p99_ms": lambda r: r["acknowledged_ms"].get("p99_ms"),
    "final_status_p50_ms": lambda r: r["final_status_ms"].get("p50_ms"),
    "final_status_p99_ms": lambda r: r["final_status_ms"].get("p99_ms"),
    "send_to_final_p50_ms": lambda r: r["send_to_final_ms"].get("p50_ms"),
    "send_to_final_p99_ms": lambda r: r["send_to_final_ms"].get("p99_ms"),
    "bad_input_p50_ms": lambda r: r["bad_input"]["time_ms"].get("p50_ms"),
    "bad_input_token_p50_ms": lambda r: r["bad_input_with_token"]["time_ms"].get("p50_ms"),
}


def spread(values: list[float | None]) -> Spread:
    """The median and min-max of the values given (None: not measured, left out)."""
    found = [v for v in values if v is not None]
    return {
        "median": median(found) if found else None,
        "min": min(found) if found else None,
        "max": max(found) if found else None,
    }


def aggregate(runs: list[ProbeRun]) -> dict[str, Spread]:
    """Per figure: the median of the runs and their min-max."""
    return {name: spread([get(r) for r in runs]) for name, get in FIGURES.items()}


MIXED_FIGURES: dict[str, Any] = {
    "refusals_per_1000": lambda r: r["refusals_per_1000"],
    "create_comment_p50_ms": lambda r: r["create_comment_ms"].get("p50_ms"),
    "create_comment_p99_ms": lambda r: r["create_comment_ms"].get("p99_ms"),
    "comment_status_lag_p50_ms": lambda r: r["comment_status_lag_ms"].get("p50_ms"),
    "comment_status_lag_p99_ms": lambda r: r["comment_status_lag_ms"].get("p99_ms"),
    "achieved_rate": lambda r: r["achieved_rate"],
    "error_rate_percent": lambda r: 100 * r["error_rate"],
}


def mixed_aggregate(runs: list[MixedRun]) -> dict[str, Spread]:
    """Per figure of the runs under load: the median of the runs and their min-max."""
    return {name: spread([get(r) for r in runs]) for name, get in MIXED_FIGURES.items()}


class FaultAggregate(TypedDict):
    """One variant under one fault over its runs: spreads, and the audit's totals."""

    runs: int
    valid_runs: int
    comment_availability_during_percent: Spread
    refusals_per_1000_during: Spread
    refusals_per_1000_after: Spread
    create_comment_p99_during_ms: Spread
    recovery_s: Spread
    convergence_s: Spread
    acknowledged: int  # comments, summed over the runs
    indeterminate: int
    lost: int
    rejected_unknown_post: int | None  # summed over the runs; None: not counted (not accept)


def fault_aggregate(runs: list[FaultRun]) -> FaultAggregate:
    def percent(share: float | None) -> float | None:
        return None if share is None else 100 * share

    return {
        "runs": len(runs),
        "valid_runs": sum(r["valid"] for r in runs),
        "comment_availability_during_percent": spread(
            [percent(r["during"]["availability"]) for r in runs]
        ),
        "refusals_per_1000_during": spread([r["during"]["refusals_per_1000"] for r in runs]),
        "refusals_per_1000_after": spread([r["after"]["refusals_per_1000"] for r in runs]),
        "create_comment_p99_during_ms": spread([r["create_comment_p99_during_ms"] for r in runs]),
        "recovery_s": spread([r["recovery_s"] for r in runs]),
        "convergence_s": spread([r["convergence_s"] for r in runs]),
        "acknowledged": sum(r["audit"]["acknowledged"] for r in runs),
        "indeterminate": sum(r["audit"]["indeterminate"] for r in runs),
        "lost": sum(r["audit"]["lost"] for r in runs),
        "rejected_unknown_post": (
            None
            if all(r["rejected_unknown_post"] is None for r in runs)
            else sum(r["rejected_unknown_post"] or 0 for r in runs)
        ),
    }


def _cell(spread: Spread, digits: int = 1) -> str:
    if spread["median"] is None:
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


def _pair(agg: Mapping[str, Spread], figure: str) -> str:
    """'p50 / p99' of a figure's medians, ms."""
    p50, p99 = agg[f"{figure}_p50_ms"]["median"], agg[f"{figure}_p99_ms"]["median"]
    return "-" if p50 is None or p99 is None else f"{p50:.1f} / {p99:.1f}"


def _top(answers: Counter[str]) -> str:
    return "/".join(name for name, _ in answers.most_common()) or "-"


MIXED_HEADER = (
    f"{'variant':13} {'runs':>4} {'refused/1000':>14} {'CreateComment p50 / p99':>24} "
    f"{'status lag p50 / p99':>22} {'achieved/s':>11} {'errors %':>9}"
)


def mixed_row(name: str, runs: list[MixedRun]) -> str:
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


def table(document: dict) -> str:
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
