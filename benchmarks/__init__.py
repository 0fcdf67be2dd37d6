"""The benchmark suite: Locust-driven load, open-loop HDR latency, calibration, capacity, cost."""
