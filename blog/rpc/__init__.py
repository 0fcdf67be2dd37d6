"""gRPC plumbing both implementations share: errors, channels, servers, the service process,
settings, metrics, and the servicers that are the same in both."""
