"""The `lab` command's parser: every refusal of its command line is one line on stderr
(`error: --rate: must be greater than 0, got -5`) and exit code 2, and `--help` shows what each
option accepts (its Bound, lab/cli/bounds.py) beside its help."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from blog.rpc.refusal import one_line
from lab.cli.bounds import Bound


class LabHelpFormatter(argparse.HelpFormatter):
    """Help that ends with what the option accepts: `... (default 1000) [an integer > 0]`."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if isinstance(action.type, Bound) and text is not argparse.SUPPRESS:
            allowed = action.type.allowed.replace("%", "%%")  # argparse %-formats help
            text = f"{text or ''} [{allowed}]".strip()
        return text


class LabRawDescriptionHelpFormatter(LabHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, for a description laid out by hand."""


class LabParser(argparse.ArgumentParser):
    """argparse's parser, whose refusals are one line (usage is one `--help` away)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", LabHelpFormatter)
        super().__init__(*args, **kwargs)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # `--timeout --`: argparse (3.11) drops the "--" and gives the option an empty list,
        # which no option's check sees; refuse it as the missing value it is.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"{'/'.join(action.option_strings)}: expected a value, got --")
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> NoReturn:
        # "argument --rate: must be ..." -> "--rate: must be ...": the option leads, as in the
        # CLI's own one-line errors. Anything else (a missing or unknown argument) points to
        # the help that lists them.
        if message.startswith("argument "):
            message = message.removeprefix("argument ")
        else:
            message = f"{message} (see `{self.prog} --help`)"
        self.exit(2, f"error: {one_line(message)}\n")
