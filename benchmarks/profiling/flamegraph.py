"""A flame graph as SVG from collapsed stacks: each frame a box as wide as its samples, callees
stacked on their callers, the title of every box its full name and share (hover in a browser).
Small on purpose: what flamegraph.pl draws, without its search and zoom scripts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html import escape

from benchmarks.profiling.collapsed import function_of

WIDTH = 1200
ROW = 16
FONT = 11
CHAR_W = 6.2  # mean glyph width at FONT px, to decide whether a label fits


@dataclass
class _Node:
    samples: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: Counter[tuple[str, ...]]) -> _Node:
    root = _Node()
    for stack, count in stacks.items():
        node = root
        node.samples += count
        for frame in stack:
            node = node.children.setdefault(function_of(frame), _Node())
            node.samples += count
    return root


def _colour(name: str) -> str:
    """Warm colours, stable per function name (the same function, the same colour)."""
    h = sum(ord(c) for c in name)
    return f"rgb({205 + h % 50},{80 + (h * 7) % 120},{40 + (h * 13) % 40})"


def render(stacks: Counter[tuple[str, ...]], title: str) -> str:
    """The SVG document."""
    root = _tree(stacks)
    height = (max((len(s) for s in stacks), default=0) + 1) * ROW + 24
    boxes: list[str] = []

    def draw(node: _Node, name: str, x: float, depth: int) -> None:
        w = WIDTH * node.samples / root.samples
        if w < 0.3:  # too narrow to see: its callees are narrower still
            return
        y = height - (depth + 1) * ROW  # flames grow upwards: the root at the bottom
        text = ""
        if w > 4 * CHAR_W:
            fits = int((w - 4) / CHAR_W)
            shown = name if len(name) <= fits else name[: fits - 2] + ".."
            text = f'<text x="{x + 2:.1f}" y="{y + FONT}">{escape(shown)}</text>'
        boxes.append(
            f"<g><title>{escape(name)} ({node.samples} samples, "
            f"{node.samples / root.samples:.1%})</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}" '
            f'fill="{_colour(name)}"/>{text}</g>'
        )
        for child_name, child in sorted(node.children.items()):
            draw(child, child_name, x, depth + 1)
            x += WIDTH * child.samples / root.samples

    if root.samples:
        draw(root, "all", 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="monospace" font-size="{FONT}">'
        f'<text x="4" y="16" font-size="13">{escape(title)} ({root.samples} samples)</text>'
        + "".join(boxes)
        + "</svg>\n"
    )
