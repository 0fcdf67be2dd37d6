"""The synchronous implementation: services call each other with gRPC at request time."""
