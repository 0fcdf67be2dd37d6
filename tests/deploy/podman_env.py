"""Podman on a machine that pulls nothing from a registry, as tests/deploy needs it.

What this CI machine needs for podman (README, Containers), made repeatable:
- a containers.conf of our own (CONTAINERS_CONF, only for the commands we run): lower ulimits
  (root here lacks CAP_SYS_RESOURCE) and runc (cgroups v1 in hybrid mode, which crun refuses);
- images built locally: a Debian base made with debootstrap (kept in podman's store between runs:
  the slow step is skipped when it is there), stand-ins for python:3.11-slim, postgres and nats
  from it (tests/deploy/standins/), then the lab's own Dockerfile;
- `podman system service` on a socket of our own, for docker-compose (Docker's API);
- health checks run by us: podman schedules them with systemd timers, and there is no systemd
  here, so without `podman healthcheck run` no container would ever turn healthy and compose's
  `depends_on: condition: service_healthy` would wait forever;
- cleanup of what netavark leaves in the host: the iptables chains it created and ip_forward.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).with_name("standins")

BASE_IMAGE = "localhost/lab-debian:bookworm"
PYTHON_IMAGE = "localhost/lab-python:3.11"
POSTGRES_IMAGE = "localhost/lab-postgres:15"
NATS_IMAGE = "localhost/lab-nats:2"
LAB_IMAGE = "localhost/sync-async-lab:ci"
PROMETHEUS_IMAGE = "localhost/lab-prometheus:ci"

CONTAINERS_CONF = """\
# written by tests/deploy/podman_env.py (see its docstring)
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""

REQUIRED_TOOLS = ("podman", "runc", "debootstrap", "docker-compose", "iptables-save")


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def debian_mirror() -> str:
    """The Debian mirror apt already uses on this machine."""
    for source in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["deb"] and "debian" in line and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
            if words[:1] == ["URIs:"] and "debian" in words[1] and "security" not in words[1]:
                return words[1]
    return "http://deb.debian.org/debian"


@dataclass
class Podman:
    """podman and docker-compose commands with our containers.conf; the steps and their times."""

    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conf = self.workdir / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF)
        self.socket = self.workdir / "podman.sock"
        self._service: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CONTAINERS_CONF"] = str(self.conf)
        env["DOCKER_HOST"] = f"unix://{self.socket}"
        return env

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 600,
        input_text: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            cwd=ROOT,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def podman(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        return self.run(["podman", *args], check=check, timeout=timeout).stdout

    def timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 1)

    # -- images -----------------------------------------------------------------------------
    def image_exists(self, name: str) -> bool:
        return self.run(["podman", "image", "exists", name], check=False).returncode == 0

    def build_base(self) -> None:
        """A minimal Debian bookworm root file system as an image (cached in podman's store)."""
        started = time.monotonic()
        if self.image_exists(BASE_IMAGE):
            self.timed("base image (cached)", started)
            return
        rootfs = Path(tempfile.mkdtemp(prefix="lab-rootfs-", dir="/var/tmp"))
        try:
            self.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), debian_mirror()],
                timeout=900,
            )
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (rootfs / junk).glob("*"):
                    if path.is_file():
                        path.unlink()
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            imported = subprocess.run(
                ["podman", "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                env=self.env,
                capture_output=True,
                timeout=600,
            )
            tar.stdout.close()
            tar.wait()
            if imported.returncode != 0:
                raise RuntimeError(f"podman import failed: {imported.stderr.decode()[-2000:]}")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        self.timed("base image (debootstrap + import)", started)

    def build_standins(self) -> None:
        """python, postgres and nats stand-ins (podman's layer cache makes a rebuild instant)."""
        started = time.monotonic()
        context = Path(tempfile.mkdtemp(prefix="lab-standins-", dir=self.workdir))
        for item in STANDINS.iterdir():
            shutil.copy2(item, context / item.name)
        # pip inside a build reaches the registry through whatever TLS proxy this machine trusts
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        (context / "host-ca.crt").write_bytes(ca.read_bytes() if ca.exists() else b"")
        for image, containerfile in (
            (PYTHON_IMAGE, "python.Containerfile"),
            (POSTGRES_IMAGE, "postgres.Containerfile"),
            (NATS_IMAGE, "nats.Containerfile"),
        ):
            self.podman(
                "build",
                "--format",
                "docker",
                "--build-arg",
                f"BASE_IMAGE={BASE_IMAGE}",
                "--build-arg",
                f"PYTHON_IMAGE={PYTHON_IMAGE}",
                "-t",
                image,
                "-f",
                str(context / containerfile),
                str(context),
                timeout=900,
            )
        self.timed("stand-in images (python, postgres, nats)", started)

    def build_prometheus_image(self) -> None:
        """deploy/prometheus/Containerfile (Debian's package) on the debootstrap base."""
        started = time.monotonic()
        self.podman(
            "build",
            "--format",
            "docker",
            "--build-arg",
            f"DEBIAN_IMAGE={BASE_IMAGE}",
            "-t",
            PROMETHEUS_IMAGE,
            "-f",
            str(ROOT / "deploy" / "prometheus" / "Containerfile"),
            str(ROOT / "deploy" / "prometheus"),
            timeout=900,
        )
        self.timed("prometheus image (Debian's package)", started)

    def image_id(self, name: str) -> str:
        return self.podman("image", "inspect", "--format", "{{.Id}}", name, check=False).strip()

    def build_lab_image(self) -> None:
        """The Dockerfile, its build stage tagged too: podman's layer cache then keeps the
        dependencies' layer between runs, and the images a rebuild replaced are removed."""
        started = time.monotonic()
        tags = {"build": f"{LAB_IMAGE}-build", "": LAB_IMAGE}
        before = {tag: self.image_id(tag) for tag in tags.values()}
        for target, tag in tags.items():
            self.podman(
                "build",
                "--format",
                "docker",  # keeps the Dockerfile's HEALTHCHECK (OCI images have none)
                *(["--target", target] if target else []),
                "--build-arg",
                f"PYTHON_IMAGE={PYTHON_IMAGE}",
                "-t",
                tag,
                "-f",
                str(ROOT / "Dockerfile"),
                str(ROOT),
                timeout=1200,
            )
        for tag, old in before.items():
            if old and old != self.image_id(tag):
                self.podman("rmi", old, check=False)  # with its layers no other image uses
        self.timed("lab image (Dockerfile)", started)

    # -- the Docker API, for docker-compose ---------------------------------------------------
    def start_service(self) -> None:
        self._service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "podman-service.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self._service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("podman system service did not start; see its log")
            time.sleep(0.1)

    def stop_service(self) -> None:
        if self._service is not None and self._service.poll() is None:
            self._service.terminate()
            try:
                self._service.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._service.kill()
                self._service.wait()
        self._service = None


class HealthPump:
    """Runs the health checks of a compose project's containers, as systemd's timers would."""

    def __init__(self, podman: Podman, project: str, interval_s: float = 1.0) -> None:
        self.podman = podman
        self.project = project
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health-pump", daemon=True)

    def __enter__(self) -> HealthPump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            listed = self.podman.run(
                [
                    "podman",
                    "ps",
                    "--filter",
                    f"label=com.docker.compose.project={self.project}",
                    "--format",
                    "{{.ID}} {{.Status}}",
                ],
                check=False,
                timeout=60,
            ).stdout
            ids = [line.split()[0] for line in listed.splitlines() if "(" in line]
            checks = [
                subprocess.Popen(
                    ["podman", "healthcheck", "run", cid],
                    env=self.podman.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for cid in ids
            ]
            for check in checks:
                try:
                    check.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    check.kill()
                    check.wait()
            self._stop.wait(self.interval_s)


# -- what netavark changes on the host ----------------------------------------------------------
def iptables_chains() -> dict[str, set[str]]:
    chains: dict[str, set[str]] = {}
    for table in ("filter", "nat"):
        out = subprocess.run(
            ["iptables-save", "-t", table], capture_output=True, text=True, check=False
        ).stdout
        chains[table] = {line[1:].split()[0] for line in out.splitlines() if line.startswith(":")}
    return chains


def remove_new_chains(before: dict[str, set[str]]) -> list[str]:
    """Delete the chains (and the rules that jump to them) created since `before`."""
    removed = []
    after = iptables_chains()
    for table, chains in after.items():
        new = chains - before.get(table, set())
        if not new:
            continue
        rules = subprocess.run(
            ["iptables-save", "-t", table], capture_output=True, text=True, check=False
        ).stdout
        for line in rules.splitlines():
            words = shlex.split(line)
            if line.startswith("-A ") and "-j" in words and words[words.index("-j") + 1] in new:
                if words[1] not in new:  # rules inside new chains go with their chain
                    subprocess.run(["iptables", "-t", table, "-D", *words[1:]], check=False)
        for chain in new:
            subprocess.run(["iptables", "-t", table, "-F", chain], check=False)
        for chain in new:
            subprocess.run(["iptables", "-t", table, "-X", chain], check=False)
            removed.append(f"{table}/{chain}")
    return removed


IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def read_ip_forward() -> str:
    try:
        return IP_FORWARD.read_text().strip()
    except OSError:
        return ""


def restore_ip_forward(value: str) -> None:
    if value and read_ip_forward() != value:
        try:
            IP_FORWARD.write_text(value + "\n")
        except OSError:
            pass
