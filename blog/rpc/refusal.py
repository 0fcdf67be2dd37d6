"""How a refused setting or option value is said, in one line: `must be greater than 0, got -1`.
Shared by the services' settings (blog/rpc/settings.py) and the `lab` command's options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails


def problem(error: ErrorDetails) -> str:
    """One pydantic error as the lab says it: `must be greater than 0, got -1`."""
    message = error["msg"]
    if message.startswith("Input should be a valid "):  # "..., unable to parse string as ..."
        message = message.partition(", ")[0]
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    return f"{message}, got {shown(error['input'])}"


def shown(value: Any) -> str:
    """A refused value as the user typed it; quoted (and escaped) when it is empty or holds a
    space or anything unprintable, so that it stays one word on one line."""
    text = str(value)
    return text if text.isprintable() and text and " " not in text else repr(text)


def one_line(message: str) -> str:
    """`message` with every character that could end or break a line escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)
