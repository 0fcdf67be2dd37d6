"""Dose-response of one gray fault (`lab chaos --dose-response slow-db:posts --doses
0,10,50,200,1000`): the same chaos experiment at each dose, for every variant, under the same
load, and how each variant's operations degrade as the dose grows: per operation the p99 and the
availability while the fault held, the requests in flight, and the CPU each component spent
(docs/METHOD.md, Gray faults). Dose 0 puts the fault on its links and adds nothing: the
baseline on the same stack shape.

One experiment per dose, variant and repetition (lab/chaos/runner.py's run_experiment), the
variants' order alternating from one dose to the next (A B, B A, ...) so that a drift of the
machine reaches both; results/<run-id>/ holds each experiment as `lab chaos` writes it, and a
summary.json (kind "dose-response") with one row per dose, variant and repetition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.chaos.profiles import PROFILES
from lab.chaos.records import RequestRecord, read_request_log
from lab.chaos.runner import ExperimentContext, experiment_dir, run_experiment
from lab.runs.rundir import RunDir
from lab.stack.config import StackOptions
from lab.stack.faults import Fault, FaultError, applies
from lab.stack.topology import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DOSES = (0.0, 10.0, 50.0, 200.0, 1000.0)
AUDIT_COUNTS = (
    "attempted",
    "acknowledged",
    "lost",
    "duplicated",
    "unexpected",
    "indeterminate",
    "recovered",
)


@dataclass
class DoseResponseConfig:
    fault: str  # a gray fault without its dose, e.g. slow-db:posts
    doses: list[float]
    impls: list[str]
    profile: str = "quick"
    repeat: int = 0  # repetitions of every dose and variant; 0: the chaos profile's
    results_dir: Path = ROOT / "results"
    keep_data: bool = False
    seed: int = 1
    bus_nodes: int = 1  # async: nats-servers of the bus (3: a cluster)
    stack: StackOptions = field(default_factory=StackOptions)  # --no-metrics, --prometheus
    say: Callable[[str], None] = lambda line: print(line, flush=True)
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def dosed(fault: str, dose: float) -> str:
    """`fault` at `dose`, as text (FaultError when the fault takes no dose or the dose is bad)."""
    parsed = Fault.parse(fault)
    if not parsed.info.unit:
        raise FaultError(f"{parsed.kind} takes no dose: a dose-response needs a fault that does")
    # Its own dose, if it was given one, gives way; the text's parse checks the new one.
    return str(Fault.parse(str(replace(parsed, dose=dose))))


def plan(config: DoseResponseConfig) -> list[tuple[int, float, str]]:
    """(repetition, dose, impl) in run order: per repetition the doses in turn, each for every
    variant it applies to, the variants' order reversed from one experiment to the next."""
    reps = config.repeat or PROFILES[config.profile].repetitions
    pairs: list[tuple[int, float, str]] = []
    for rep in range(1, reps + 1):
        for n, dose in enumerate(config.doses, (rep - 1) * len(config.doses)):
            impls = config.impls if n % 2 == 0 else list(reversed(config.impls))
            text = dosed(config.fault, dose)
            pairs += [(rep, dose, impl) for impl in impls if applies(text, impl, config.bus_nodes)]
    return pairs


@dataclass(frozen=True)
class OperationDuring:
    """One operation while the fault held: how many requests, the share that succeeded, the
    p99 of those (ms, from the scheduled start) and its requests in flight on average."""

    requests: int
    availability: float | None
    p99_ms: float | None
    in_flight_mean: float


@dataclass(frozen=True)
class DoseRow:
    """One dose on one variant."""

    impl: str
    dose: float
    repetition: int
    fault: str
    window_s: float  # how long the fault held
    operations: dict[str, OperationDuring]
    in_flight_mean: float  # every operation's requests in flight, averaged over the window
    in_flight_max: int
    cpu_cores: dict[str, float]  # CPU seconds per second of the fault, per component
    cpu_cores_total: float
    valid: bool  # audited: nothing lost, duplicated or unexpected; every activity succeeded
    audit: dict[str, int]


def in_flight(records: Sequence[RequestRecord], start: float, end: float) -> tuple[float, int]:
    """(mean, max) of the requests in flight over [start, end): each from its scheduled start
    (open loop: a request late to start is already waiting) to its answer. The mean is the sum
    of every request's time inside the window over the window (Little's law)."""
    if end <= start:
        return 0.0, 0
    busy = sum(max(0.0, min(r.end, end) - max(r.scheduled, start)) for r in records)
    events = sorted(
        [(max(r.scheduled, start), 1) for r in records if r.scheduled < end and r.end > start]
        + [(r.end, -1) for r in records if r.scheduled < end and start < r.end < end]
    )
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return busy / (end - start), peak


def row(result: dict[str, Any], records: Sequence[RequestRecord], dose: float) -> DoseRow:
    """A dose's row from its experiment's summary and request log."""
    times = result["times"]
    start, end = times["injected_at"] or 0.0, times["restored_at"] or 0.0
    window = max(0.0, end - start)
    operations = {}
    for op in OPERATIONS:
        mine = [r for r in records if r.op == op]
        available = result["availability"].get(op) or {}
        p99 = result["p99_ms"].get(op) or {}
        operations[op] = OperationDuring(
            requests=int(available.get("requests_during", 0)),
            availability=available.get("during"),
            p99_ms=p99.get("during"),
            in_flight_mean=round(in_flight(mine, start, end)[0], 2),
        )
    mean, peak = in_flight(records, start, end)
    cpu = {k: round(v / window, 3) for k, v in result.get("cpu_during_s", {}).items() if window}
    return DoseRow(
        impl=result["impl"],
        dose=dose,
        repetition=int(result.get("repetition", 1)),
        fault=result["fault"],
        window_s=round(window, 3),
        operations=operations,
        in_flight_mean=round(mean, 2),
        in_flight_max=peak,
        cpu_cores=cpu,
        cpu_cores_total=round(sum(cpu.values()), 3),
        valid=bool(result["valid"]),
        audit={k: int(result["audit"]["total"][k]) for k in AUDIT_COUNTS},
    )


def run_dose_response(config: DoseResponseConfig) -> Path:
    profile = PROFILES[config.profile]
    unit = Fault.parse(config.fault).info.unit
    pairs = plan(config)
    run = RunDir.create(
        config.results_dir,
        "dose-response",
        {
            "fault": config.fault,
            "doses": config.doses,
            "unit": unit,
            "impls": config.impls,
            "profile": config.profile,
            "repetitions": max((rep for rep, _, _ in pairs), default=0),
            "seed": config.seed,
            "bus_nodes": config.bus_nodes,
            "metrics": config.stack.metrics,
            "prometheus": config.stack.prometheus is not None,
        },
        run_id=config.run_id,
        profile={"phases": vars(profile.phases), "rate": profile.rate},
    )
    run_dir = run.path
    ctx = ExperimentContext(
        run_dir,
        config.profile,
        profile,
        config.seed,
        config.keep_data,
        config.say,
        bus_nodes=config.bus_nodes,
        stack=config.stack,
    )
    config.say(f"results -> {run_dir} ({len(pairs)} experiments, profile {config.profile})")
    rows = []
    for n, (rep, dose, impl) in enumerate(pairs, 1):
        fault = dosed(config.fault, dose)
        config.say(f"--- experiment {n}/{len(pairs)}: {impl} {fault} (repetition {rep})")
        result = run_experiment(ctx, impl, fault, rep)
        out = experiment_dir(run_dir, impl, fault, rep)
        rows.append(
            row(result, read_request_log(sorted(out.glob("requests/requests-*.jsonl"))), dose)
        )
    summary = {
        "run_id": config.run_id,
        "kind": "dose-response",
        "fault": config.fault,
        "unit": unit,
        "doses": config.doses,
        "load": {"rate": profile.rate, "hold_s": profile.phases.hold_s},
        "rows": [asdict(r) for r in rows],
        "valid": all(r.valid for r in rows),
    }
    run.write_summary(summary)
    run.finish()
    return run_dir


def table(summary: dict[str, Any]) -> str:
    """The rows as text: per dose and variant, each operation's availability and p99 while the
    fault held, the requests in flight and the CPU the stack used."""
    unit = summary["unit"]
    ops = list(OPERATIONS)
    lines = [
        f"{summary['fault']} dose-response at {summary['load']['rate']:g} req/s: while the fault "
        f"held, per operation availability and p99 (ms); requests in flight (mean/max); CPU "
        f"(cores: CPU seconds per second, the whole stack)",
        f"{'dose':>8} {'variant':10} {'rep':>3} "
        + " ".join(f"{op:>15}" for op in ops)
        + "  in-flight   CPU",
    ]
    for r in summary["rows"]:
        cells = []
        for op in ops:
            o = r["operations"][op]
            share = "-" if o["availability"] is None else f"{o['availability']:.0%}"
            p99 = "-" if o["p99_ms"] is None else f"{o['p99_ms']:.0f}"
            cells.append(f"{share} {p99}".rjust(15))
        audit = "" if r["valid"] else "  FAILED RUN"
        lines.append(
            f"{r['dose']:>5g} {unit:<2} {r['impl']:10} {r['repetition']:>3} "
            + " ".join(cells)
            + f"  {r['in_flight_mean']:5.1f}/{r['in_flight_max']:<4d}{r['cpu_cores_total']:5.2f}"
            + audit
        )
    return "\n".join(lines)
