"""Actions on a running stack, through its fault-control API (stack.control): inject a fault,
restore a component. Plain functions: Chaos Toolkit calls them, and so can anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.stack.control import ControlClient


def inject(stack_file: str, fault: str) -> dict[str, Any]:
    """Inject `fault` (e.g. "kill-db:comments"); returns what the stack reports (its time)."""
    return dict(ControlClient.from_stack_file(Path(stack_file)).inject(fault))


def restore(stack_file: str, target: str) -> dict[str, Any]:
    """Undo the faults on `target` (a service, "bus", or "all"); returns what was restored."""
    return dict(ControlClient.from_stack_file(Path(stack_file)).restore(target))
