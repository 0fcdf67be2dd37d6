"""The blog itself, shared by every implementation: its domain rules, events, use cases
(features) and ports, each service's store, the gRPC plumbing the services share, and the
generated protobuf code (blog.v1)."""
