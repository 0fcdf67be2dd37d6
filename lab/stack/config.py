"""What a stack is asked to run: the implementation, where its data lives, and the options its
services are started with (lab.stack.runner turns it into processes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lab.stack.knobs import NoiseKnobs

MAX_STREAM_REPLICAS = 5  # JetStream's limit


@dataclass(frozen=True)
class PrometheusSettings:
    """A Prometheus server run beside the stack (`--prometheus`; lab.stack.prometheus)."""

    # Its configuration, rules and time-series data; None: DATA_DIR/prometheus. A command that
    # runs stack after stack (bench, chaos) gives them one home and one port: one URL and one
    # history for the whole command.
    home: Path | None = None
    port: int = 0  # 0: any free port


@dataclass(frozen=True)
class StackOptions:
    """How a stack's services are set up, beyond the implementation. Each field but `replicas`,
    `bus_nodes`, `metrics`, `prometheus` and `fault_proxies` is one of the services' settings
    (blog/rpc/settings.py); None leaves the services' default."""

    replicas: Mapping[str, int] = field(default_factory=dict)  # service -> count (default 1)
    # nats-servers of an async stack's bus: 1, or 3 or more as one JetStream cluster. (Two
    # would lose their quorum with either node: no safer than one, at twice the cost.)
    bus_nodes: int = 1
    # Replicas of every stream and consumer (LAB_STREAM_REPLICAS); None: stream_replica_count().
    stream_replicas: int | None = None
    # Every service serves its Metrics as Prometheus text on a loopback port of its own, and an
    # async stack runs the bus exporter (off: to measure what exposition costs).
    metrics: bool = True
    prometheus: PrometheusSettings | None = None  # a Prometheus server scraping every process
    blocklist: str | None = None
    moderation_delay_ms: float | None = None
    call_timeout_ms: int | None = None
    # Async comments on posts not heard of yet: refuse | wait | accept, and the bounds of wait
    # and accept (docs/METHOD.md, Causality across services).
    causality: str | None = None
    causality_wait_ms: float | None = None
    causality_accept_s: float | None = None
    # A fault proxy on every link (each service to its database, its peers and the bus, the
    # clients to each service), so that gray faults (slow-db, slow, partition, lossy, ...) can
    # be injected; off by default: it costs CPU on the data path (docs/METHOD.md, Gray faults).
    fault_proxies: bool = False
    # Traces (docs/METHOD.md, Where each millisecond goes): the share of requests traced (None
    # or 0: off) and where each process writes its OTLP JSON file (default DATA_DIR/traces).
    trace_sample: float | None = None
    trace_dir: Path | None = None
    # The noise study's variables (lab.stack.knobs; docs/METHOD.md, Noise); default: none.
    noise: NoiseKnobs = field(default_factory=NoiseKnobs)

    def __post_init__(self) -> None:
        if self.bus_nodes < 1 or self.bus_nodes == 2:
            raise ValueError(
                f"bus nodes: 1, or 3 or more (a cluster of 2 loses its quorum with either "
                f"node), not {self.bus_nodes}"
            )
        wanted = self.stream_replicas
        if wanted is not None and not 1 <= wanted <= min(MAX_STREAM_REPLICAS, self.bus_nodes):
            raise ValueError(
                f"stream replicas: 1 to {min(MAX_STREAM_REPLICAS, self.bus_nodes)} on "
                f"{self.bus_nodes} bus node(s), not {wanted}"
            )

    def replica_count(self, service: str) -> int:
        return max(1, self.replicas.get(service, 1))

    def stream_replica_count(self) -> int:
        """Replicas of the streams and consumers: as asked, else R3 on a cluster of three or
        more nodes and R1 on a lone server. R3 because an acknowledged write is then on a
        quorum of two nodes, so losing any one node, the leader included, loses nothing and
        the other two elect a new leader; R5 would survive two lost nodes, but every write
        waits for three. R1 is all a lone server can hold (docs/METHOD.md, Cost: R1 vs R3)."""
        if self.stream_replicas is not None:
            return self.stream_replicas
        return 3 if self.bus_nodes >= 3 else 1

    def service_env(self) -> dict[str, str]:
        """The LAB_* environment every service process of the stack gets from these options
        (not argv: `ps` shows argv to every local user)."""
        env = {}
        for name in (
            "blocklist",
            "moderation_delay_ms",
            "call_timeout_ms",
            "causality",
            "causality_wait_ms",
            "causality_accept_s",
            "trace_sample",
            "trace_dir",
        ):
            value = getattr(self, name)
            if value is not None:
                env[f"LAB_{name.upper()}"] = str(value)
        if self.stream_replica_count() != 1:  # 1 is the services' own default
            env["LAB_STREAM_REPLICAS"] = str(self.stream_replica_count())
        env.update(self.noise.service_env())
        return env


@dataclass(frozen=True)
class StackConfig:
    """One stack: which implementation, where its data and logs live, with which options."""

    impl: str
    data_dir: Path
    options: StackOptions = field(default_factory=StackOptions)
    fresh: bool = False  # wipe data_dir's databases first
