"""One chaos experiment, end to end: a fresh stack, load, Chaos Toolkit's run of the experiment
(steady state -> fault -> hold -> restore -> observe -> steady state, rollbacks always), then
convergence, the audit and every figure, written to the experiment's results directory."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.suite.seeding import seed, wait_quiet
from lab.chaos.audit import AuditReport, Observed, audit
from lab.chaos.catchup import catch_up
from lab.chaos.cells import cells
from lab.chaos.coupling import dependencies, predicted_up
from lab.chaos.degraded import degraded
from lab.chaos.experiment import experiment, write_experiment
from lab.chaos.journal import JournalSummary, run_chaostoolkit, summarize_journal
from lab.chaos.load import Load
from lab.chaos.observe import ConvergenceWatch, Found, find
from lab.chaos.phases import availability, phase_p99
from lab.chaos.profiles import ChaosProfile
from lab.chaos.records import WRITES, FaultWindow, RequestRecord, read_request_log
from lab.chaos.recovery import recovery, recovery_s
from lab.chaos.timeline import timeline, write_timeline_csv
from lab.stack.bus_failover import BusFailover
from lab.stack.config import StackOptions
from lab.stack.control import ControlServer
from lab.stack.faults import Fault
from lab.stack.runner import Stack, fresh_stack
from lab.stack.stackfile import StackInfo, load_stack_file

CONVERGENCE_TIMEOUT_S = 60.0


@dataclass
class ExperimentContext:
    """What every experiment of a run shares."""

    run_dir: Path
    profile_name: str
    profile: ChaosProfile
    seed: int = 1
    keep_data: bool = False
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    causality: str | None = None  # the stacks' causality policy (None: the services' default)
    # Every experiment's stack has its fault proxies, clean faults' too: every fault is measured
    # on the same stack shape (docs/METHOD.md, Gray faults).
    fault_proxies: bool = True
    trace_sample: float | None = None  # the services trace this share (into <experiment>/traces)
    # What every stack starts with (--no-metrics, --prometheus); the causality policy is added.
    stack: StackOptions = field(default_factory=StackOptions)
    bus_nodes: int = 1  # async: nats-servers of the bus (3: a cluster, streams R3)
    # Read once the stack is seeded and again after the audit; the increase of each counter is
    # the result's "counters" (e.g. the comments service's causality counters).
    counters: Callable[[StackInfo], dict[str, int]] | None = None


def _clock(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%S.%f")[:-3]


def slug(fault: str) -> str:
    return fault.replace(":", "-").replace(",", "-")


def experiment_dir(run_dir: Path, impl: str, fault: str, repetition: int) -> Path:
    """Where one repetition of an experiment writes: results/<run-id>/<impl>/<fault>/rep-<n>."""
    return run_dir / impl / slug(fault) / f"rep-{repetition}"


def run_experiment(
    ctx: ExperimentContext, impl: str, fault: str, repetition: int = 1
) -> dict[str, Any]:
    """Run one experiment; return (and write to summary.json) what it measured. Its phases:
    a fresh stack, seeded (prepare), open-loop load around Chaos Toolkit's run (attack),
    everything applied and converged (settle), then the figures and the audit (measure)."""
    out = experiment_dir(ctx.run_dir, impl, fault, repetition)
    out.mkdir(parents=True, exist_ok=True)
    label = f"[{impl} {fault}" + (f" #{repetition}]" if repetition > 1 else "]")
    ctx.say(f"{label} starting the stack ...")
    traced = bool(ctx.trace_sample)
    options = replace(
        ctx.stack,
        causality=ctx.causality,
        bus_nodes=ctx.bus_nodes,
        fault_proxies=ctx.fault_proxies,
        trace_sample=ctx.trace_sample if traced else None,
        trace_dir=out / "traces" if traced else None,
    )
    with (
        fresh_stack(impl, options, keep_data=ctx.keep_data, say=ctx.say) as stack,
        ControlServer(stack),
    ):
        prepared = prepare(ctx, stack, impl, fault, out)
        attack = run_attack(ctx, stack, prepared, label)
        records = settle(prepared, attack)
        result = measure(ctx, prepared, attack, records)
        result["cpu_during_s"] = _cpu_during(stack, fault)
    result["repetition"] = repetition
    _report(ctx, label, result)
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


@dataclass
class Prepared:
    """A stack ready for the experiment: seeded, its experiment file written."""

    impl: str
    fault: str
    out: Path
    info: StackInfo
    seed_file: Path
    counters_before: dict[str, int]


def prepare(ctx: ExperimentContext, stack: Stack, impl: str, fault: str, out: Path) -> Prepared:
    """Seed the stack and write the Chaos Toolkit experiment for it."""
    info = load_stack_file(stack.stack_file)
    seed_file = out / "seed-posts.json"
    seed_file.write_text(json.dumps(seed(info, ctx.profile.seed_posts, random.Random(1))))
    counters_before = ctx.counters(info) if ctx.counters else {}
    document = experiment(impl, fault, stack.stack_file, out / "requests", ctx.profile.phases)
    write_experiment(out / "experiment.json", document)
    return Prepared(impl, fault, out, info, seed_file, counters_before)


@dataclass
class Attack:
    """What happened while the load ran: its times, Chaos Toolkit's verdict, the fault window
    and (async) when the read model converged."""

    load: Load
    load_started: float
    load_stopped: float
    chaos_exit_code: int
    journal: JournalSummary
    window: FaultWindow | None
    watch: ConvergenceWatch | None
    # A bus-node fault: the node, its role and the election after it (lab.stack.bus_failover).
    bus_failover: dict[str, object] | None = None


def run_attack(ctx: ExperimentContext, stack: Stack, prepared: Prepared, label: str) -> Attack:
    """Open-loop load from warm-up to the end of observation, with Chaos Toolkit's run of the
    experiment in the middle (steady state -> fault -> hold -> restore -> observe)."""
    phases = ctx.profile.phases
    max_s = phases.warmup_s + phases.hold_s + phases.observe_s + 120
    # Before the generator starts: the audit reads the rows created since then, and a generator
    # may send its first request before Load.start returns.
    load_started = time.time()
    load = Load.start(
        stack.stack_file,
        prepared.seed_file,
        prepared.out,
        rate=ctx.profile.rate,
        max_s=max_s,
        seed=ctx.seed,
    )
    watch: ConvergenceWatch | None = None
    try:
        ctx.say(
            f"{label} load {ctx.profile.rate:g}/s started at {_clock(load_started)}; "
            f"warm-up {phases.warmup_s:g} s"
        )
        if "bus" in prepared.info:
            watch = ConvergenceWatch(
                prepared.info, load.request_log, lambda: _restored_at(stack), CONVERGENCE_TIMEOUT_S
            )
            watch.start()
        time.sleep(phases.warmup_s + 1.0)  # + the request log's flush interval
        ctx.say(
            f"{label} chaos run: steady state, {prepared.fault}, hold {phases.hold_s:g} s, "
            f"restore, observe {phases.observe_s:g} s"
        )
        out = prepared.out
        code = run_chaostoolkit(
            out / "experiment.json",
            out / "journal.json",
            out / "chaostoolkit.log",
            timeout_s=max_s + 60,
        )
    except BaseException:
        if watch is not None:
            watch.stop()
        raise
    finally:
        load.stop()
    load_stopped = time.time()
    journal = summarize_journal(prepared.out / "journal.json")
    window = _window(stack, prepared.fault)
    failover = _failover(stack, prepared.fault)
    if failover is not None:
        ctx.say(f"{label} {failover.summary()}")
    ctx.say(
        f"{label} steady state {'met' if journal.steady_state_before else 'NOT met'}; "
        f"fault at {_clock(window.injected_at if window else None)}, restored at "
        f"{_clock(window.restored_at if window else None)} (chaos exit {code})"
    )
    return Attack(
        load,
        load_started,
        load_stopped,
        code,
        journal,
        window,
        watch,
        failover.to_dict() if failover else None,
    )


def settle(prepared: Prepared, attack: Attack) -> list[RequestRecord]:
    """Wait (bounded) for convergence and, with a bus, until every event is applied; then the
    request log, the truth every figure is computed from."""
    if attack.watch is not None:
        _wait_for(attack.watch)
    if "bus" in prepared.info:
        wait_quiet(prepared.info, timeout_s=60)  # every event applied before the audit
    return read_request_log(attack.load.log_files())


def measure(
    ctx: ExperimentContext, prepared: Prepared, attack: Attack, records: list[RequestRecord]
) -> dict[str, Any]:
    """The experiment's figures, the audit and its provenance, as summary.json holds them."""
    found = find(prepared.info, attack.load_started, records)
    window, watch = attack.window, attack.watch
    result = _measure(
        prepared.impl,
        prepared.fault,
        records,
        found,
        window,
        attack.load_started,
        ctx.profile.phases.warmup_s,
        prepared.out,
    )
    if ctx.counters:
        after = ctx.counters(prepared.info)
        before = prepared.counters_before
        result["counters"] = {k: v - before.get(k, 0) for k, v in after.items()}
    result.update(
        bus_nodes=ctx.bus_nodes if "bus" in prepared.info else None,
        bus_failover=attack.bus_failover,
        profile=ctx.profile_name,
        phases=vars(ctx.profile.phases),
        load={"rate": ctx.profile.rate},
        times={
            "load_started_at": attack.load_started,
            "load_stopped_at": attack.load_stopped,
            "injected_at": window.injected_at if window else None,
            "restored_at": window.restored_at if window else None,
            "converged_at": watch.converged_at if watch else None,
        },
        chaostoolkit={"exit_code": attack.chaos_exit_code, **attack.journal.to_dict()},
        convergence_s=(
            watch.converged_at - window.restored_at
            if watch and watch.converged_at and window
            else None
        ),
        convergence_error=watch.error if watch else None,
        valid=bool(result["audit"]["valid"] and attack.journal.every_activity_succeeded and window),
    )
    return result


def _restored_at(stack: Stack) -> float | None:
    history = stack.faults.history()
    return history[-1].restored_at if history else None


def _window(stack: Stack, fault: str) -> FaultWindow | None:
    wanted = Fault.parse(fault)
    for record in stack.faults.history():
        if record.fault == wanted and record.restored_at is not None:
            return FaultWindow(fault, record.injected_at, record.restored_at)
    return None


def _cpu_during(stack: Stack, fault: str) -> dict[str, float]:
    """CPU seconds per component from the injection to the restore (the fault's record)."""
    wanted = Fault.parse(fault)
    return next((r.cpu_s for r in stack.faults.history() if r.fault == wanted), {})


def _failover(stack: Stack, fault: str) -> BusFailover | None:
    """The election a bus-node fault caused (its watch has ended by now: it stops once the
    stream and its consumers are led again, long before the hold is over)."""
    for record in stack.faults.history():
        if str(record.fault) == fault and record.bus is not None:
            return record.bus
    return None


def _wait_for(watch: ConvergenceWatch) -> None:
    deadline = time.time() + CONVERGENCE_TIMEOUT_S
    while watch.converged_at is None and watch.error is None and time.time() < deadline:
        time.sleep(0.1)
    watch.stop()


def observed(records: Sequence[RequestRecord], found: Found) -> dict[str, Observed]:
    """What the audit compares the log with: per kind of write, the owner's rows by request id,
    the rows nobody asked for, and the view (restricted to the experiment's own rows)."""
    result = {}
    for op, owner, view_ids in (
        ("CreatePost", found.posts, found.view_posts),
        ("CreateComment", found.comments, set(found.view_comments)),
    ):
        attempted = {r.request_id for r in records if r.op == op and r.request_id}
        acknowledged = {r.id for r in records if r.op == op and r.ok and r.id}
        mine = {rid: ids for rid, ids in owner.items() if rid in attempted}
        others = [i for rid, ids in owner.items() if rid not in attempted for i in ids]
        rows = {i for ids in owner.values() for i in ids} | acknowledged
        result[op] = Observed(owner=mine, view_ids=view_ids & rows, unexpected_ids=others)
    return result


def _measure(
    impl: str,
    fault: str,
    records: Sequence[RequestRecord],
    found: Found,
    window: FaultWindow | None,
    load_started: float,
    warmup_s: float,
    out: Path,
) -> dict[str, Any]:
    report: AuditReport = audit([r for r in records if r.op in WRITES], observed(records, found))
    result: dict[str, Any] = {
        "impl": impl,
        "fault": fault,
        "requests": len(records),
        "audit": report.to_dict(),
    }
    if window is None:  # the fault never happened (or was never restored): nothing to time
        result.update(availability={}, recovery_s={}, recovery={}, p99_ms={}, cells={}, partial={})
        result["catch_up"] = None
        return result
    warmup_end = load_started + warmup_s
    end = max((r.scheduled for r in records), default=window.restored_at) + 1
    tl = timeline(records, window, warmup_end, end)
    write_timeline_csv(tl, out / "timeline.csv")
    (out / "timeline.json").write_text(json.dumps(tl.to_dict()) + "\n")
    available = availability(records, window, warmup_end)
    p99 = phase_p99(records, window, warmup_end)
    recoveries = recovery(records, window)
    result.update(
        availability={op: a.to_dict() for op, a in available.items()},
        cells={op: c.to_dict() for op, c in cells(records, window).items()},
        recovery_s=recovery_s(recoveries),
        recovery={op: r.to_dict() for op, r in recoveries.items()},
        p99_ms={op: p.to_dict() for op, p in p99.items()},
        catch_up=catch_up(records, window).to_dict(),
        # Answers marked partial, apart from the complete ones above: "up, degraded".
        partial={op: d.to_dict() for op, d in degraded(records, window, warmup_end).items()},
        static={
            op: {
                "depends_on": sorted(dependencies(impl, op)),
                "predicted_up": predicted_up(impl, fault, op),
            }
            for op in available
        },
    )
    return result


def _report(ctx: ExperimentContext, label: str, result: dict[str, Any]) -> None:
    """The phase lines and a compact table of what the experiment measured."""
    times = result["times"]
    if result["availability"]:
        recovered = [
            times["restored_at"] + s for s in result["recovery_s"].values() if s is not None
        ]
        ctx.say(
            f"{label} recovered at {_clock(max(recovered) if recovered else None)}"
            + (f"; converged at {_clock(times['converged_at'])}" if times["converged_at"] else "")
        )
        ctx.say(
            f"{label} {'operation':14} {'before':>7} {'during':>7} {'p99 during':>11} "
            f"{'n':>5} {'after':>7} {'recovery':>9} {'+/-':>6}"
        )
        for op, a in result["availability"].items():
            rec = result["recovery"].get(op, {})
            cell = result["cells"].get(op, {})
            seconds, resolution = rec.get("seconds"), rec.get("resolution_s")
            p99 = cell.get("p99_ms")
            ctx.say(
                f"{label} {op:14} {_pct(a['before'])} {_pct(a['during'])} "
                f"{'-' if p99 is None else f'{p99:.0f} ms':>11} {cell.get('requests', 0):>5} "
                f"{_pct(a['after'])} {'-' if seconds is None else f'{seconds:.3f} s':>9} "
                f"{'' if resolution is None else f'{resolution * 1000:.0f} ms':>6}"
            )
    for op, d in result.get("partial", {}).items():
        last = d["last_partial_after_restore_s"]
        ctx.say(
            f"{label} {op:14} partial (the post without its comments): {_pct(d['before'])} "
            f"{_pct(d['during'])} {_pct(d['after'])}; the last "
            f"{'-' if last is None else f'{last:+.2f} s'} from the restore"
        )
    total = result["audit"]["total"]
    ctx.say(
        f"{label} audit: attempted {total['attempted']}, acknowledged {total['acknowledged']}, "
        f"lost {total['lost']}, duplicated {total['duplicated']}, unexpected "
        f"{total['unexpected']}, indeterminate {total['indeterminate']}, recovered "
        f"{total['recovered']} -> {'valid' if result['valid'] else 'FAILED RUN'}"
    )


def _pct(value: float | None) -> str:
    return f"{'-':>7}" if value is None else f"{value:7.1%}"
