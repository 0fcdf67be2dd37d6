"""The `lab` command: runs stacks, talks to them, benchmarks them. Nothing imports it."""
