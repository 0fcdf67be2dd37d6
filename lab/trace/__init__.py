"""`lab trace`: the per-hop breakdown of traced requests (docs/METHOD.md, Where each millisecond
goes), from the OTLP JSON files the services and the load generator write.

otlp (read the files) -> join (spans into traces by trace id) -> hops (a trace's hops) ->
breakdown (median and p99 per hop, per operation and implementation) -> waterfall (figures) ->
summary (trace-summary.json, what the report reads).
"""
