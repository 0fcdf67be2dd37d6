"""The blog, transport-free: domain rules, events, paging, ports, features (the use cases) and
each service's store. Both implementations are built on it."""
