"""What can go wrong with a stack as a whole: it could not start, it is not running, or a fault
cannot be injected now. (A malformed fault is lab.stack.faults.FaultError.)"""


class StackError(RuntimeError):
    """The stack could not start; the message names the part and its log."""


class StackNotRunning(RuntimeError):
    """The stack is not (or no longer, or not yet) running: there is nothing to fault."""


class FaultConflict(RuntimeError):
    """A well-formed fault that cannot be injected now (already faulted, or not running)."""
