"""REPORT.md from the lab's own runs (docs/METHOD.md, Results and report)."""
