"""The error of a stack that could not start (or start a part again)."""


class StackError(RuntimeError):
    """The stack could not start; the message names the part and its log."""
