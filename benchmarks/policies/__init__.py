"""The causality policies compared: `lab bench --causality` (docs/METHOD.md, Causality across
services)."""
