"""Persistence of each service's own database: schema, pool and unit of work, repositories."""
