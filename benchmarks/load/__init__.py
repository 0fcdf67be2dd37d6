"""The load: Locust scenarios, the open-loop schedule, HDR histograms, the gRPC user, and each
generator process's recorder and request log."""
