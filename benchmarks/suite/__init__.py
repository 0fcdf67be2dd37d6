"""The suite: profiles, the Locust driver, typed results, the capacity sweep, cost, `lab bench`."""
