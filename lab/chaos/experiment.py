"""Experiments as Chaos Toolkit files: a steady-state hypothesis (every part healthy, the load's
error rate <= 0.1 %), a method (fault -> hold -> restore -> observe) and rollbacks that always
restore everything. The probes and actions are plain functions of the lab (chaos.probes,
chaos.actions): Chaos Toolkit only calls them, so `lab fault` and the tests use the same ones.

Built around the runner's traps (docs/METHOD.md, Coupling and failure isolation): it is run with
`--rollback-strategy always` (else rollbacks are skipped when the opening steady state fails or
the run is interrupted); a failed action does not fail a run, so the runner checks every
activity's status in the journal; probes return small values (the journal keeps outputs
verbatim), never per-second arrays; every call the providers make has its own timeout, since a
Python provider has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.stack.faults import Fault

MAX_ERROR_RATE = 0.001  # the steady state: at most 0.1 % of the load's requests fail


@dataclass(frozen=True)
class Phases:
    """Seconds of each phase of an experiment."""

    warmup_s: float
    hold_s: float
    observe_s: float
    steady_window_s: float = 2.0  # how much of the recent load the steady-state probe reads


def _python(func: str, module: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def steady_state(stack_file: Path, request_log: Path, phases: Phases) -> dict[str, Any]:
    """Every service serving, and the load's error rate at most 0.1 %."""
    return {
        "title": "Every part is healthy and the load's error rate is at most 0.1 %",
        "probes": [
            {
                "type": "probe",
                "name": "every-service-serving",
                "tolerance": True,
                "provider": _python("all_serving", "lab.chaos.probes", stack_file=str(stack_file)),
            },
            {
                "type": "probe",
                "name": "load-error-rate",
                # A range, not a set: [0, 0.001].
                "tolerance": [0, MAX_ERROR_RATE],
                "provider": _python(
                    "error_rate",
                    "lab.chaos.probes",
                    request_log=str(request_log),
                    window_s=phases.steady_window_s,
                ),
            },
        ],
    }


def restore_target(fault: str) -> str:
    """What `restore` needs to undo a fault: the service it hit (a link's first service), or
    the bus (a node of it too)."""
    return Fault.parse(fault).restore_target


def experiment(
    impl: str, fault: str, stack_file: Path, request_log: Path, phases: Phases
) -> dict[str, Any]:
    """The Chaos Toolkit experiment for one fault on one running stack."""
    stack = str(stack_file)
    steady = steady_state(stack_file, request_log, phases)
    return {
        "version": "1.0.0",
        "title": f"{impl}: {fault} under load",
        "description": (
            f"Inject {fault} into a running {impl} stack under open-loop load, hold it "
            f"{phases.hold_s:g} s, restore it, observe {phases.observe_s:g} s. The per-request "
            "log and the audit are the results; this journal records the phases."
        ),
        "tags": ["sync-async-lab", impl, fault],
        "steady-state-hypothesis": steady,
        "method": [
            {
                "type": "action",
                "name": "inject-fault",
                "provider": _python("inject", "lab.chaos.actions", stack_file=stack, fault=fault),
                "pauses": {"after": phases.hold_s},
            },
            {
                "type": "action",
                "name": "restore",
                "provider": _python(
                    "restore", "lab.chaos.actions", stack_file=stack, target=restore_target(fault)
                ),
                "pauses": {"after": phases.observe_s},
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "restore-everything",
                "provider": _python("restore", "lab.chaos.actions", stack_file=stack, target="all"),
            }
        ],
    }


def write_experiment(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def overload_experiment(
    impl: str,
    stack_file: Path,
    request_log: Path,
    rate_file: Path,
    base_rate: float,
    spike_rate: float,
    phases: Phases,
) -> dict[str, Any]:
    """The overload experiment as Chaos Toolkit runs it: the same steady state, then the load
    itself is the fault: its rate raised to `spike_rate` for `hold_s`, back to `base_rate`,
    observed for `observe_s`; the rollback puts the base rate back whatever happened."""

    def rate(name: str, value: float, pause_s: float) -> dict[str, Any]:
        return {
            "type": "action",
            "name": name,
            "provider": _python(
                "set_rate", "lab.chaos.actions", rate_file=str(rate_file), rate=value
            ),
            "pauses": {"after": pause_s},
        }

    return {
        "version": "1.0.0",
        "title": f"{impl}: a load spike to {spike_rate:g}/s and back to {base_rate:g}/s",
        "description": (
            f"Open-loop load at {base_rate:g} requests/s, a spike to {spike_rate:g}/s for "
            f"{phases.hold_s:g} s, back to {base_rate:g}/s for {phases.observe_s:g} s. The "
            "per-request log, the services' samples and the audit are the results; this "
            "journal records the phases."
        ),
        "tags": ["sync-async-lab", impl, "overload"],
        "steady-state-hypothesis": steady_state(stack_file, request_log, phases),
        "method": [
            rate("spike", spike_rate, phases.hold_s),
            rate("back-to-base", base_rate, phases.observe_s),
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "base-rate",
                "provider": _python(
                    "set_rate", "lab.chaos.actions", rate_file=str(rate_file), rate=base_rate
                ),
            }
        ],
    }
