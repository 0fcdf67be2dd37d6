"""Chaos experiments: real faults under Locust load, run by Chaos Toolkit, measured from the
per-request log (availability, recovery, catch-up, convergence) and audited for lost writes."""
