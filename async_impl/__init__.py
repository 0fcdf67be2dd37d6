"""The asynchronous implementation: services exchange events on NATS JetStream."""
