"""One typed settings object for every service process, read from LAB_* env vars and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from blog.domain import (
    CAUSALITY_ACCEPT_S,
    CAUSALITY_WAIT_S,
    DEFAULT_BLOCKLIST,
    DEFAULT_CAUSALITY,
    CausalityPolicy,
    Moderator,
    parse_blocklist,
)


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
    nats_url: str = Field("", description="NATS server URL (async implementation)")
    blocklist: str = Field(",".join(DEFAULT_BLOCKLIST), description="comma-separated words")
    moderation_delay_ms: float = Field(0.0, ge=0, description="artificial cost of a decision")
    call_timeout_ms: int = Field(1000, gt=0, description="deadline of each outbound RPC")
    db_pool_size: int = Field(10, gt=0, description="connections kept per process")
    db_timeout_s: float = Field(2.0, gt=0, description="bound on connecting to the database")
    grace_s: float = Field(5.0, ge=0, description="time given to in-flight RPCs on SIGTERM")
    ready_file: Path | None = Field(None, description="write the bound host:port here once serving")
    # Async comments service: a comment on a post not heard of yet (docs/METHOD.md, Causality).
    causality: CausalityPolicy = Field(
        DEFAULT_CAUSALITY, description="refuse | wait | accept (async comments service)"
    )
    causality_wait_ms: float = Field(
        CAUSALITY_WAIT_S * 1000,
        ge=0,
        description="wait: longest a comment with a token waits for its post",
    )
    causality_accept_s: float = Field(
        CAUSALITY_ACCEPT_S,
        gt=0,
        description="accept: longest a comment is held for its post, then REJECTED",
    )

    def require(self, *names: str) -> None:
        """Fail fast, naming every missing setting, before anything starts."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            flags = ", ".join(f"--{n.replace('_', '-')} (or LAB_{n.upper()})" for n in missing)
            raise SystemExit(f"error: missing required setting(s): {flags}")

    def moderator(self) -> Moderator:
        return Moderator(parse_blocklist(self.blocklist))


def load_settings(prog: str, argv: list[str] | None = None) -> ServiceSettings:
    """Parse flags (with --help) on top of the environment."""
    from pydantic_settings import CliApp

    return CliApp.run(ServiceSettings, cli_args=argv, cli_prog_name=prog)
