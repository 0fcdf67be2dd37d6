"""How a Metrics name becomes a Prometheus family and labels (Prometheus's naming conventions:
an application prefix, base units, `_total` for counters, `_seconds` for durations).

- counter `name` -> `blog_<name>_total`; `name.variant` -> the same family, the variant a label;
  a counter of microseconds `name_us` -> `blog_<name>_seconds_total` (scaled to seconds)
- histogram `name_us` -> `blog_<name>_seconds` (microseconds become seconds), variants likewise
- gauge `name` -> `blog_<name>` (recorded in base units already, e.g. outbox_oldest_age_seconds)
- the RPCs (server_metrics.py) -> the families operators know from go-grpc-prometheus:
  `grpc_server_handled_total{grpc_service, grpc_method, grpc_code}` and
  `grpc_server_handling_seconds{grpc_service, grpc_method}`
A name with no description below is still exposed, with a generic one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from blog.rpc.server_metrics import RPC_HANDLED, RPC_LATENCY

PREFIX = "blog_"

# The label a `name.variant` suffix becomes, per name (default: "variant").
VARIANT_LABELS = {
    "visibility_lag_us": "event_type",
}

HELP = {
    # consumers (async_impl/consumer.py): each service has one durable consumer, named after it
    "events_applied": "Events a consumer applied (effect committed, then acked).",
    "events_duplicate": "Events a consumer had applied before (acked without effect).",
    "events_retried": "Deliveries that failed and were nakked for a retry.",
    "events_nak_unavailable": "Deliveries nakked because the service's own database was down.",
    "events_dead_lettered": "Events moved to the dead-letter stream (poison or too many tries).",
    "events_replayed": "Events applied by a rebuild of the read model (no lag recorded).",
    "delivery_delay_us": "Time from an event's publication to its delivery to this consumer.",
    # outbox relay (async_impl/relay.py)
    "events_published": "Events the relay's fast path published (acknowledged by JetStream).",
    "events_swept": "Events the relay's periodic sweep published (fast path missed or failed).",
    "outbox_fast_path_full": "Events the fast path could not queue (the sweep took them).",
    "outbox_publish_failures": "Publishes of the outbox that failed (bus down or slow).",
    "outbox_sweep_delay_us": "Time an event waited in the outbox until the sweep published it.",
    "outbox_rows": "Events written but not yet acknowledged by the bus (sampled at scrape).",
    "outbox_oldest_age_seconds": "Age of the oldest event still in the outbox (sampled).",
    # read model (async_impl/query.py)
    "visibility_lag_us": "Time from an event's occurrence to its effect in the read model.",
    "comment_status_lag_us": "Time from a comment's creation to its final status in the view.",
    # causality (async_impl/comments.py, causality.py)
    "comments_unknown_post": "Comments refused for a post the comments service had not heard of.",
    "comments_waited": "Comments that waited for their post (causality policy wait).",
    "causality_wait_us": "How long a comment waited for its post (causality policy wait).",
    "comments_held": "Comments held for a post not known yet (causality policy accept).",
    "comments_rejected_unknown_post": "Held comments rejected: no post appeared in time.",
    "causality_wakeups_notify": "Waiting comments woken by a PostgreSQL NOTIFY.",
    "causality_wakeups_local": "Waiting comments woken by this process's own consumer.",
}

GRPC_HANDLED_HELP = "RPCs completed on the server, by status code."
GRPC_HANDLING_HELP = "Time a server took to answer an RPC (from handler start to its status)."


@dataclass(frozen=True)
class Series:
    """One series of a family: the family's name (counters without `_total`, which
    prometheus_client appends), its kind, help and this series' labels."""

    family: str
    kind: Literal["counter", "histogram", "gauge"]
    help: str
    labels: dict[str, str] = field(default_factory=dict)
    scale: float = 1.0  # what a counter's value is multiplied by (microseconds -> seconds)


def sanitize(name: str) -> str:
    """A valid Prometheus name: [a-zA-Z_:][a-zA-Z0-9_:]*."""
    cleaned = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"


def _split(name: str) -> tuple[str, str | None]:
    base, _, variant = name.partition(".")
    return base, variant or None


def _grpc_labels(full_method: str) -> dict[str, str]:
    """blog.v1.PostService/CreatePost -> grpc_service, grpc_method."""
    service, _, method = full_method.partition("/")
    return {"grpc_service": service, "grpc_method": method}


def _variant(base: str, variant: str | None) -> dict[str, str]:
    return {} if variant is None else {VARIANT_LABELS.get(base, "variant"): variant}


def counter_series(name: str) -> Series:
    base, variant = _split(name)
    if base == RPC_HANDLED and variant:
        full_method, _, code = variant.rpartition(".")
        labels = {**_grpc_labels(full_method), "grpc_code": code}
        return Series("grpc_server_handled", "counter", GRPC_HANDLED_HELP, labels)
    help_text = HELP.get(base, f"Counter {base} of the service's Metrics.")
    if base.endswith("_us"):  # base units: a sum of microseconds is exposed in seconds
        stem = sanitize(base.removesuffix("_us"))
        return Series(
            f"{PREFIX}{stem}_seconds", "counter", help_text, _variant(base, variant), 1e-6
        )
    return Series(PREFIX + sanitize(base), "counter", help_text, _variant(base, variant))


def histogram_series(name: str) -> Series:
    base, variant = _split(name)
    if base == RPC_LATENCY and variant:
        return Series(
            "grpc_server_handling_seconds", "histogram", GRPC_HANDLING_HELP, _grpc_labels(variant)
        )
    stem = base.removesuffix("_us")
    help_text = HELP.get(base, f"Histogram {base} of the service's Metrics (seconds).")
    return Series(
        f"{PREFIX}{sanitize(stem)}_seconds", "histogram", help_text, _variant(base, variant)
    )


def gauge_series(name: str) -> Series:
    base, variant = _split(name)
    help_text = HELP.get(base, f"Gauge {base} of the service's Metrics.")
    return Series(PREFIX + sanitize(base), "gauge", help_text, _variant(base, variant))
