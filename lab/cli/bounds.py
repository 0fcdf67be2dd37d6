"""What each option of `lab` accepts, declared once and checked where argparse parses it.

An option states what it accepts through its `type=`, a Bound: called with the option's text, it
returns the value or raises argparse.ArgumentTypeError saying what is allowed and what it got.
The parser (lab/cli/parser.py) prints that as one line, `error: --call-timeout-ms: must be
greater than 0, got -1`, and `lab` exits with code 2 before anything starts; `--help` shows
every option's bound beside its help.

Where each bound lives, once:

- a setting the services read: `setting("call_timeout_ms")` checks against that field of
  ServiceSettings (blog/rpc/settings.py: its type and pydantic constraints), so `lab up` refuses
  exactly what a service would refuse, in the same words;
- a harness-only option: `number(float, gt=0)` in its add_argument (pydantic's constraints gt,
  ge, lt, le; a float is also refused as inf or nan);
- a list: `one_or_more(item)`, comma-separated (`--impl sync,async`, `--replicas 1,2`), each
  item a Bound or one of a tuple of names; `each_or_all(names, item)`: `N` for every name or
  `NAME=N,...` (`lab up --replicas posts=2`);
- text a function parses: `parsed(function, "what it is")`, its ValueError being the refusal;
- one name out of a set: argparse's own `choices=`.

An option added later takes one of these and is checked like the rest, e.g.

    up.add_argument("--bus-nodes", type=number(int, ge=1), help="...")
    bench.add_argument("--trace-sample", type=number(float, ge=0, le=1), help="...")

tests/unit/test_cli_bounds.py reads every option's Bound (and choices) from the parser itself and
has hypothesis try values outside it: a new option is covered without a new test.
"""

from __future__ import annotations

import argparse
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from blog.rpc.refusal import problem, shown

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic.fields import FieldInfo

# pydantic (and the services' settings) are imported on first use, not when `lab` starts: most
# commands never check a bounded value (`lab view` would pay ~85 ms for nothing).

LIMITS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
KIND_WORDS = {int: "an integer", float: "a number"}


class Bound(ABC):
    """An argparse `type=`: the option's text to its value, or ArgumentTypeError."""

    @abstractmethod
    def __call__(self, text: str) -> Any: ...

    @property
    @abstractmethod
    def allowed(self) -> str:
        """What the option accepts, in words (`an integer > 0`), for --help and refusals."""


@dataclass(frozen=True)
class Constrained(Bound):
    """One value of a type within pydantic constraints: those of a ServiceSettings field
    (`setting`), or its own (`kind` with `own` limits)."""

    setting: str | None = None
    kind: type = float
    own: tuple[tuple[str, float], ...] = ()

    def __call__(self, text: str) -> Any:
        from pydantic import ValidationError

        try:
            return _adapter(self).validate_python(text)
        except ValidationError as error:
            raise argparse.ArgumentTypeError(problem(error.errors()[0])) from None

    @property
    def annotation(self) -> Any:
        """The value's type (int, float, ...)."""
        return self.kind if self.setting is None else _field(self.setting).annotation

    @property
    def metadata(self) -> list[Any]:
        """The constraints, as pydantic keeps them (annotated_types.Gt(0), ...)."""
        if self.setting is not None:
            return list(_field(self.setting).metadata)
        from pydantic import Field

        finite = {"allow_inf_nan": False} if self.kind is float else {}
        return list(Field(**dict(self.own), **finite).metadata)  # type: ignore[call-overload]

    @property
    def limits(self) -> dict[str, float]:
        """gt, ge, lt and le, whichever apply: {"gt": 0}."""
        found = {}
        for constraint in self.metadata:
            for name in LIMITS:
                if getattr(constraint, name, None) is not None:
                    found[name] = getattr(constraint, name)
        return found

    @property
    def allowed(self) -> str:
        kind = KIND_WORDS.get(self.annotation, getattr(self.annotation, "__name__", "a value"))
        limits = " and ".join(f"{LIMITS[name]} {value:g}" for name, value in self.limits.items())
        return f"{kind} {limits}".strip()


@functools.cache
def _adapter(bound: Constrained) -> TypeAdapter[Any]:
    """Built on first use: pydantic's validator costs nothing to a command that never uses it."""
    from pydantic import TypeAdapter

    metadata = bound.metadata
    constrained: Any = Annotated[bound.annotation, *metadata] if metadata else bound.annotation
    return TypeAdapter(constrained)


def _field(name: str) -> FieldInfo:
    from blog.rpc.settings import ServiceSettings

    return ServiceSettings.model_fields[name]  # a KeyError names a setting that does not exist


def setting(name: str) -> Constrained:
    """The bound of the services' setting `name` (a field of ServiceSettings)."""
    return Constrained(setting=name)


def number(kind: type[int] | type[float], **limits: float) -> Constrained:
    """A harness-only number within `limits` (gt, ge, lt, le), e.g. number(float, gt=0)."""
    unknown = set(limits) - set(LIMITS)
    if unknown:
        raise TypeError(f"number(): unknown limits {sorted(unknown)}; use {list(LIMITS)}")
    return Constrained(kind=kind, own=tuple(limits.items()))


@dataclass(frozen=True)
class Parsed(Bound):
    """Text that `parse` turns into the value; its ValueError (e.g. FaultError) is the refusal."""

    parse: Callable[[str], Any]
    what: str

    def __call__(self, text: str) -> Any:
        try:
            return self.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    @property
    def allowed(self) -> str:
        return self.what


def parsed(parse: Callable[[str], Any], what: str) -> Parsed:
    return Parsed(parse, what)


Item = Bound | tuple[str, ...]


def _one(item: Item, text: str) -> Any:
    if isinstance(item, Bound):
        return item(text)
    if text not in item:
        raise argparse.ArgumentTypeError(f"must be {_allowed(item)}, got {shown(text)}")
    return text


def _allowed(item: Item) -> str:
    return item.allowed if isinstance(item, Bound) else f"one of {', '.join(item)}"


@dataclass(frozen=True)
class OneOrMore(Bound):
    """Comma-separated items (blanks ignored), at least one, each checked: a list."""

    item: Item

    def __call__(self, text: str) -> list[Any]:

        items = [part.strip() for part in text.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"must be {self.allowed}, got {shown(text)}")
        return [_one(self.item, part) for part in items]

    @property
    def allowed(self) -> str:
        return f"{_allowed(self.item)} (one or more, comma-separated)"


def one_or_more(item: Item) -> OneOrMore:
    return OneOrMore(item)


@dataclass(frozen=True)
class EachOrAll(Bound):
    """`VALUE` for every name, or `NAME=VALUE,...` for some: a dict from name to value."""

    names: tuple[str, ...]
    item: Bound

    def __call__(self, text: str) -> dict[str, Any]:

        if "=" not in text:
            value = self.item(text.strip())
            return {name: value for name in self.names}
        values = {}
        for pair in (part for part in text.split(",") if part.strip()):
            name, sep, value = (piece.strip() for piece in pair.partition("="))
            if not sep or name not in self.names:
                raise argparse.ArgumentTypeError(
                    f"must be N or NAME=N,... with NAME one of {', '.join(self.names)}, "
                    f"got {shown(text)}"
                )
            try:
                values[name] = self.item(value)
            except argparse.ArgumentTypeError as error:
                raise argparse.ArgumentTypeError(f"{name}: {error}") from None
        return values

    @property
    def allowed(self) -> str:
        names = ", ".join(self.names)
        return f"{self.item.allowed}: N for every one, or NAME=N,... with NAME one of {names}"


def each_or_all(names: tuple[str, ...], item: Bound) -> EachOrAll:
    return EachOrAll(tuple(names), item)
