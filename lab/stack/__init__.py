"""The local runner: each implementation's topology, and the processes that run it (PostgreSQL,
nats-server, services) with `stack.json` for their clients."""
