"""Shared core of the sync-vs-async lab: domain, persistence, gRPC plumbing, runner and CLI."""
