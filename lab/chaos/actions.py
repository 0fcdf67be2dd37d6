"""Actions on a running stack, through its fault-control API (stack.control): inject a fault,
restore a component; and on its load: change the open-loop rate. Plain functions: Chaos Toolkit
calls them, and so can anything else."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lab.stack.control import ControlClient


def inject(stack_file: str, fault: str) -> dict[str, Any]:
    """Inject `fault` (e.g. "kill-db:comments"); returns what the stack reports (its time)."""
    return dict(ControlClient.from_stack_file(Path(stack_file)).inject(fault))


def set_rate(rate_file: str, rate: float) -> dict[str, Any]:
    """Change the open-loop load's total rate (the generator reads --lab-rate-file every 0.1 s)
    and record when; returns the time and the rate (the overload experiment's spike)."""
    path = Path(rate_file)
    at = time.time()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{rate}\n")
    tmp.replace(path)  # atomic: the generator never reads half a number
    with open(path.with_suffix(".changes"), "a") as changes:
        changes.write(f"{at} {rate}\n")
    return {"at": at, "rate": rate}


def restore(stack_file: str, target: str) -> dict[str, Any]:
    """Undo the faults on `target` (a service, "bus", or "all"); returns what was restored."""
    return dict(ControlClient.from_stack_file(Path(stack_file)).restore(target))
