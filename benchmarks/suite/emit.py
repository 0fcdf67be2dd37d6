"""Where the measurement tools' generated tables go (rejudge, repeatability, drift and the
noise readers): to the file given with --out (its directory made), or to standard output."""

from __future__ import annotations

import sys
from pathlib import Path


def emit(text: str, out: Path | None) -> int:
    """Write `text` to `out`, or print it; the tool's exit status (0)."""
    if out is None:
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0
