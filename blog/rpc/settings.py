"""One typed settings object for every service process, read from LAB_* env vars and flags.

Each setting's bound is declared here once, as a pydantic Field constraint; `lab up` checks its
options against the same fields (lab/cli/bounds.py). A value outside its bound is refused in one
line (`error: --call-timeout-ms (or LAB_CALL_TIMEOUT_MS): must be greater than 0, got -1`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from blog.domain import (
    CAUSALITY_ACCEPT_S,
    CAUSALITY_WAIT_S,
    DEFAULT_BLOCKLIST,
    DEFAULT_CAUSALITY,
    CausalityPolicy,
    Moderator,
    parse_blocklist,
)
from blog.rpc.refusal import problem


class ServiceSettings(BaseSettings):
    """Settings of one service process. Flags override LAB_<NAME> environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="LAB_",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        extra="ignore",
    )

    listen: str = Field("127.0.0.1:0", description="host:port to serve gRPC on (port 0: any)")
    dsn: str = Field("", description="this service's own database (postgresql://...)")
    posts_addr: str = Field("", description="posts service: host:port[,host:port...]")
    comments_addr: str = Field("", description="comments service: host:port[,host:port...]")
    moderation_addr: str = Field("", description="moderation service: host:port[,...]")
    nats_url: str = Field(
        "", description="NATS server URL, or every node of a cluster: url,url,... (async)"
    )
    # R1 by default because a lone nats-server (lab up's default bus) can hold no more; on a
    # cluster of three the stack sets R3, which survives the loss of any one node
    # (lab.stack.config.StackOptions.stream_replica_count; docs/METHOD.md, Cost: R1 vs R3).
    stream_replicas: int = Field(
        1, ge=1, le=5, description="replicas of every stream and consumer (async)"
    )
    blocklist: str = Field(",".join(DEFAULT_BLOCKLIST), description="comma-separated words")
    moderation_delay_ms: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="artificial cost of a decision"
    )
    call_timeout_ms: int = Field(1000, gt=0, description="deadline of each outbound RPC")
    db_pool_size: int = Field(10, gt=0, description="connections kept per process")
    db_timeout_s: float = Field(
        2.0, gt=0, allow_inf_nan=False, description="bound on connecting to the database"
    )
    grace_s: float = Field(
        5.0, ge=0, allow_inf_nan=False, description="time given to in-flight RPCs on SIGTERM"
    )
    ready_file: Path | None = Field(None, description="write the bound host:port here once serving")
    # Prometheus text exposition of the process's Metrics (blog/rpc/exposition.py); with it the
    # server also times and counts every RPC (blog/rpc/server_metrics.py). Empty: neither.
    metrics_listen: str = Field(
        "", description="host:port to serve /metrics on (port 0: any; empty: no exposition)"
    )
    metrics_file: Path | None = Field(
        None, description="write the bound host:port of /metrics here before serving gRPC"
    )
    # Async comments service: a comment on a post not heard of yet (docs/METHOD.md, Causality).
    causality: CausalityPolicy = Field(
        DEFAULT_CAUSALITY, description="refuse | wait | accept (async comments service)"
    )
    causality_wait_ms: float = Field(
        CAUSALITY_WAIT_S * 1000,
        ge=0,
        allow_inf_nan=False,
        description="wait: longest a comment with a token waits for its post (0: one more look)",
    )
    causality_accept_s: float = Field(
        CAUSALITY_ACCEPT_S,
        gt=0,
        allow_inf_nan=False,
        description="accept: longest a comment is held for its post, then REJECTED",
    )
    # Traces (docs/METHOD.md, Where each millisecond goes): off at 0, the default.
    trace_sample: float = Field(
        0.0, ge=0, le=1, description="share of requests traced (0: tracing off, nothing set up)"
    )
    trace_dir: Path | None = Field(
        None, description="directory of this process's OTLP JSON trace file (with trace_sample)"
    )

    # Sync services: the resilience patterns (circuit breaker and bulkhead per peer, load
    # shedding, fallbacks; sync_impl/resilience/, docs/METHOD.md, Resilience). The topology's
    # sync-resilient variant switches them on; plain sync runs without.
    resilience: bool = Field(False, description="sync: resilience patterns on (sync-resilient)")
    # The noise study's knobs (lab.stack.knobs; docs/METHOD.md, Noise): off by default.
    gc_freeze: bool = Field(False, description="gc.freeze() once the service has started")
    bus_memory_storage: bool = Field(
        False, description="async: the event stream in memory (diagnosis only: not durable)"
    )

    def require(self, *names: str) -> None:
        """Fail fast, naming every missing setting, before anything starts."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            raise BadSettings(f"missing required setting(s): {', '.join(map(flag, missing))}")

    def require_trace_dir(self) -> None:
        if self.trace_sample > 0 and self.trace_dir is None:
            raise BadSettings(
                "--trace-sample (LAB_TRACE_SAMPLE) needs --trace-dir (or LAB_TRACE_DIR)"
            )

    def moderator(self) -> Moderator:
        return Moderator(parse_blocklist(self.blocklist))


class BadSettings(ValueError):
    """Settings a service refuses to start with, said in one line (no traceback)."""


def flag(name: str) -> str:
    """How a user gives setting `name`: `--call-timeout-ms (or LAB_CALL_TIMEOUT_MS)`."""
    return f"--{name.replace('_', '-')} (or LAB_{name.upper()})"


def load_settings(prog: str, argv: list[str] | None = None) -> ServiceSettings:
    """Parse flags (with --help) on top of the environment; BadSettings for a value out of its
    bound, an unknown flag or a flag without its value."""
    from pydantic_settings import CliApp

    try:
        return CliApp.run(
            ServiceSettings, cli_args=argv, cli_prog_name=prog, cli_exit_on_error=False
        )
    except ValidationError as error:
        lines = [
            f"{flag(str(e['loc'][0])) if e['loc'] else prog}: {problem(e)}" for e in error.errors()
        ]
        raise BadSettings("; ".join(lines)) from None
    except SettingsError as error:  # argparse's own complaint, e.g. "unrecognized arguments"
        message = str(error).removeprefix("error parsing CLI: ").removeprefix("argument ")
        raise BadSettings(message) from None
