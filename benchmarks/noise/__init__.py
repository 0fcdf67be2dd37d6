"""The noise of a measurement traced to its sources (docs/METHOD.md, Noise): a sampler to run
around any step (sampler.NoiseSampler), what to do before a step (quiesce.quiesce), and the
study that isolates each source one variable at a time (`python -m benchmarks.noise`)."""
