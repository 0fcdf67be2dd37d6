"""The lab around the blog: the `lab` command (cli), the local stacks it runs (stack), the chaos
experiments (chaos) and the report (report). The load generator and the benchmark suite are in
the top-level package `benchmarks`."""
