"""The overload experiment (docs/METHOD.md, Overload): open-loop Poisson load at a base rate, a
spike to about twice the measured capacity and back, per variant and base rate; per second what
was offered, answered and answered in time, the requests in flight, the work the services did
per client request and (async) the backlog; then how long each variant took to recover, and
whether it did at all while the load was back at its base (a metastable failure)."""
