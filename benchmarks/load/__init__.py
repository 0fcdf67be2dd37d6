"""The load: Locust scenarios, the open-loop schedule, HDR histograms."""
