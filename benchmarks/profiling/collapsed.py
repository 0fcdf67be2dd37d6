"""Collapsed stacks ("outer;inner;leaf count" per line, as py-spy --format raw and Brendan
Gregg's flamegraph.pl write them): parsing and the top frames by own samples."""

from __future__ import annotations

import re
from collections import Counter

# py-spy names a frame "function (file:line)"; the line splits one function into many frames.
_LINE = re.compile(r":\d+\)$")
_ENTRY = ("<module> (", "main (", "run (")


def parse(text: str) -> Counter[tuple[str, ...]]:
    """Stack (outermost first) -> samples."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def function_of(frame: str) -> str:
    """The frame without its line number: 'step (bare_chain.py:52)' -> 'step (bare_chain.py)'."""
    return _LINE.sub(")", frame)


def top_self(stacks: Counter[tuple[str, ...]], n: int = 10) -> list[tuple[str, float]]:
    """The n functions with the most samples of their own (the leaf of a stack), as shares of
    all samples."""
    total = sum(stacks.values())
    own: Counter[str] = Counter()
    for stack, count in stacks.items():
        own[function_of(stack[-1])] += count
    return [(frame, count / total) for frame, count in own.most_common(n)] if total else []


def top_inclusive(
    stacks: Counter[tuple[str, ...]], keep: tuple[str, ...], n: int = 10
) -> list[tuple[str, float]]:
    """The n functions whose file path contains one of `keep` (the project's own code) with the
    most samples anywhere on the stack (themselves and what they call), as shares of all
    samples: under asyncio a leaf is mostly the event loop's, so own time hides the callers.
    A process's entry (`<module>`, `main`, and the event loop's `run` below them) is left out:
    it is on every stack."""
    total = sum(stacks.values())
    seen: Counter[str] = Counter()
    for stack, count in stacks.items():
        mine = {
            function_of(f) for f in stack if any(k in f for k in keep) and not f.startswith(_ENTRY)
        }
        for frame in mine:  # once per stack, however deep the recursion
            seen[frame] += count
    return [(frame, count / total) for frame, count in seen.most_common(n)] if total else []
